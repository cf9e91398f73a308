"""MALA-13: the settlement ledger's pure part. A lender's charge (lost or damaged) is an entry
"home owes lender"; ChargePaid marks the oldest open one collected; statements sum per pair,
per currency and per period, owed = collected + outstanding, and never add currencies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from libs.common.contracts import IllRequesterMessage, IllSupplierMessage
from libs.common.contracts.ill import Money as Charge
from libs.common.money import Money
from services.requests.domain.broker import BrokerState, Refusal, TransactionView, from_supplier
from services.requests.domain.settlement import (
    CSV_COLUMNS,
    Entry,
    Period,
    charge_of,
    collected_by,
    csv_rows,
    net,
    statements,
    totals,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
VIEW = TransactionView(
    id="t-1", requester="um", consortium="MALA", state=BrokerState.CheckedOut, lender="mpu"
)


def _supplier(**fields) -> IllSupplierMessage:
    base = {
        "transaction_id": "t-1",
        "seq": 5,
        "supplier": "mpu",
        "status": "Loaned",
        "reason": "StatusChange",
        "occurred_at": NOW,
    }
    return IllSupplierMessage(**{**base, **fields})


def _entry(n: int, home="um", lender="mpu", minor=10_000, currency="MOP", day=1, paid=False):
    at = datetime(2026, 12, day, 3, 0, tzinfo=UTC) + timedelta(minutes=n)
    return Entry(
        id=n,
        transaction_id=f"t-{n}",
        home=home,
        lender=lender,
        kind="lost_item",
        amount=Money(amount_minor=minor, currency=currency),
        rule="MALA-11",
        charged_at=at,
        charged_on=at.date(),
        collected_at=at + timedelta(days=1) if paid else None,
    )


def test_mala_13_a_lost_item_charge_is_owed_by_the_home_library_to_the_lender():
    msg = _supplier(
        status="CompletedWithoutReturn",
        charge=Charge(amount_minor=45_000, currency="MOP"),
        charge_kind="lost_item",
        charge_rule="MALA-11",
    )
    entry = charge_of(VIEW, msg, "m-1", date(2026, 12, 1))
    assert entry is not None
    assert (entry.home, entry.lender, entry.kind, entry.rule) == (
        "um",
        "mpu",
        "lost_item",
        "MALA-11",
    )
    assert entry.amount == Money(amount_minor=45_000, currency="MOP")
    assert (entry.transaction_id, entry.message_id, entry.charged_at) == ("t-1", "m-1", NOW)


def test_mala_13_a_damage_charge_is_an_entry_and_other_messages_are_not():
    damaged = _supplier(
        status="Loaned", reason="Notification", charge=Charge(amount_minor=2_000, currency="MOP")
    )
    entry = charge_of(VIEW, damaged, "m-2", date(2026, 12, 1))
    assert entry is not None and entry.kind == "damaged_item"
    assert charge_of(VIEW, _supplier(), "m-3", date(2026, 12, 1)) is None
    assert charge_of(VIEW, _supplier(reason="Notification"), "m-4", date(2026, 12, 1)) is None


def test_mala_13_charge_paid_marks_the_oldest_open_charge_of_the_transaction():
    first, second, other = _entry(1), _entry(2), _entry(3)
    first = Entry(**{**first.__dict__, "transaction_id": "t-1"})
    second = Entry(**{**second.__dict__, "transaction_id": "t-1"})
    paid = IllRequesterMessage(
        transaction_id="t-1", seq=9, requester="um", action="ChargePaid", occurred_at=NOW
    )
    assert collected_by(paid, [second, other, first]) == first
    done = Entry(**{**first.__dict__, "collected_at": NOW})
    assert collected_by(paid, [done, second]) == second
    assert collected_by(paid, [done]) is None
    renew = paid.model_copy(update={"action": "Renew"})
    assert collected_by(renew, [second]) is None


def test_mala_13_statements_per_pair_and_currency_split_collected_from_outstanding():
    entries = [
        _entry(1, minor=45_000, paid=True),
        _entry(2, minor=12_000),
        _entry(3, home="mpu", lender="um", minor=3_000),
        _entry(4, home="hku", lender="cuhk", minor=50_000, currency="HKD", paid=True),
    ]
    found = statements(entries)
    assert [(s.home, s.lender, s.currency) for s in found] == [
        ("hku", "cuhk", "HKD"),
        ("mpu", "um", "MOP"),
        ("um", "mpu", "MOP"),
    ]
    um_mpu = found[2]
    assert (um_mpu.owed_minor, um_mpu.collected_minor, um_mpu.outstanding_minor) == (
        57_000,
        45_000,
        12_000,
    )
    assert um_mpu.outstanding == Money(amount_minor=12_000, currency="MOP")
    assert [t.__dict__ for t in totals(found)] == [
        {
            "currency": "HKD",
            "owed_minor": 50_000,
            "collected_minor": 50_000,
            "outstanding_minor": 0,
        },
        {
            "currency": "MOP",
            "owed_minor": 60_000,
            "collected_minor": 45_000,
            "outstanding_minor": 15_000,
        },
    ]


def test_mala_13_statements_of_one_library_its_counterparty_and_a_period():
    entries = [
        _entry(1, day=1),
        _entry(2, day=15),
        _entry(3, home="mpu", lender="um", day=15),
        _entry(4, home="usj", lender="mpu", day=15),
        _entry(5, home="um", lender="kwnc", day=31),
    ]
    mine = statements(entries, library="um")
    assert {(s.home, s.lender) for s in mine} == {("um", "mpu"), ("mpu", "um"), ("um", "kwnc")}
    with_mpu = statements(entries, library="um", counterparty="mpu")
    assert {(s.home, s.lender) for s in with_mpu} == {("um", "mpu"), ("mpu", "um")}
    december_mid = statements(entries, period=Period(date(2026, 12, 2), date(2026, 12, 15)))
    assert sorted(e.id for s in december_mid for e in s.entries) == [2, 3, 4]
    assert Period(date(2026, 12, 15), date(2026, 12, 15)).holds(date(2026, 12, 15))
    assert statements(entries, library="usj", counterparty="um") == []


def test_mala_13_csv_has_one_line_per_entry_in_minor_units():
    found = statements([_entry(1, minor=45_000, paid=True), _entry(2, minor=12_050)])
    rows = csv_rows(found)
    assert len(rows) == 2 and all(len(r) == len(CSV_COLUMNS) for r in rows)
    assert [r[CSV_COLUMNS.index("amount_minor")] for r in rows] == ["45000", "12050"]
    assert [r[CSV_COLUMNS.index("collected")] for r in rows] == ["yes", "no"]


_amounts = st.lists(
    st.tuples(
        st.sampled_from(["um", "mpu", "usj"]),
        st.sampled_from(["um", "mpu", "kwnc"]),
        st.integers(min_value=1, max_value=10**9),
        st.sampled_from(["MOP", "HKD"]),
        st.booleans(),
        st.integers(min_value=1, max_value=28),
    ),
    max_size=40,
)


@given(_amounts)
def test_mala_13_statement_sums_are_the_entries_sums(rows):
    entries = [
        _entry(n, home=h, lender=le, minor=m, currency=c, paid=p, day=d)
        for n, (h, le, m, c, p, d) in enumerate(rows)
    ]
    found = statements(entries)
    assert sum(len(s.entries) for s in found) == len(entries)
    for s in found:
        assert s.owed_minor == s.collected_minor + s.outstanding_minor
        assert all(e.amount.currency == s.currency for e in s.entries)
    for t in totals(found):
        assert t.owed_minor == sum(
            e.amount.amount_minor for e in entries if e.amount.currency == t.currency
        )
        assert t.collected_minor == sum(
            e.amount.amount_minor
            for e in entries
            if e.amount.currency == t.currency and e.collected
        )


def test_mala_13_the_broker_refuses_a_charge_in_no_currency_the_ledger_can_add():
    msg = _supplier(reason="Notification", charge=Charge(amount_minor=100, currency="mop"))
    verdict = from_supplier(VIEW, "mpu", msg, NOW)
    assert isinstance(verdict, Refusal) and "ISO 4217" in verdict.reason
    ok = from_supplier(
        VIEW,
        "mpu",
        msg.model_copy(update={"charge": Charge(amount_minor=100, currency="MOP")}),
        NOW,
    )
    assert not isinstance(ok, Refusal)


def test_mala_13_a_pairs_net_sets_the_two_directions_off_per_currency():
    entries = [
        _entry(1, minor=45_000, paid=True),
        _entry(2, home="mpu", lender="um", minor=30_000),
        _entry(3, home="usj", lender="mpu", minor=7_500),
        _entry(4, home="mpu", lender="usj", minor=7_500),
        _entry(5, home="um", lender="mpu", minor=1_000, currency="HKD"),
    ]
    assert [n.__dict__ for n in net(statements(entries))] == [
        {"debtor": "um", "creditor": "mpu", "currency": "HKD", "amount_minor": 1_000},
        {"debtor": "um", "creditor": "mpu", "currency": "MOP", "amount_minor": 15_000},
        {"debtor": "mpu", "creditor": "usj", "currency": "MOP", "amount_minor": 0},
    ]


def test_mala_13_damage_found_at_check_in_is_charged_after_the_loan_ended():
    done = TransactionView(
        id="t-1", requester="um", consortium="MALA", state=BrokerState.LoanCompleted, lender="mpu"
    )
    damaged = _supplier(
        status="LoanCompleted",
        reason="Notification",
        charge=Charge(amount_minor=5_000, currency="MOP"),
        charge_kind="damaged_item",
    )
    verdict = from_supplier(done, "mpu", damaged, NOW)
    assert not isinstance(verdict, Refusal)
    assert verdict.view.state is BrokerState.LoanCompleted
    assert [s.to for s in verdict.sends] == ["um"]
    entry = charge_of(done, damaged, "m-9", date(2026, 12, 1))
    assert entry is not None and entry.kind == "damaged_item"
    # but nothing else is heard from a lender once the loan has ended
    assert isinstance(from_supplier(done, "mpu", _supplier(status="Overdue"), NOW), Refusal)


def test_mala_13_no_charge_is_heard_for_a_copy_not_lent():
    asked = TransactionView(
        id="t-1", requester="um", consortium="MALA", state=BrokerState.WillSupply, lender="mpu"
    )
    damaged = _supplier(
        status="WillSupply",
        reason="Notification",
        charge=Charge(amount_minor=5_000, currency="MOP"),
    )
    assert isinstance(from_supplier(asked, "mpu", damaged, NOW), Refusal)
    note = damaged.model_copy(update={"charge": None})
    assert not isinstance(from_supplier(asked, "mpu", note, NOW), Refusal)
