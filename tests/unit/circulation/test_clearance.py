"""MALA-14: before a patron graduates or leaves, the clearance lists every inter-library
request not finished and every unpaid inter-library charge (with the library's own loans and
charges, HKPL-17); the account is closed only once nothing remains, and the refusal names the
rule in plain words, for HKALL's loans as for MALA's."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from libs.common.money import Money
from services.circulation.domain.clearance import clearance, close_account
from services.circulation.domain.credentials import CredentialSet, LibraryCard
from services.circulation.domain.ill_requester import FINISHED, RequesterState
from services.circulation.domain.ledger import Ledger, LedgerEntry, payment_entry
from services.circulation.domain.loan import Loan

from .builders import hk, patron

AT = hk(2027, 6, 30)
ON = date(2027, 6, 30)


def _borrowing(n: int, state: RequesterState, **fields) -> dict:
    return {
        "transaction_id": f"t-{n}",
        "title": f"Book {n}",
        "lender": "mpu",
        "state": state.value,
        "due_date": date(2027, 7, 10),
        "loan_id": None,
        "charge_entry_id": None,
        "created_at": AT - timedelta(days=30 - n),
        **fields,
    }


def _loan(loan_id: str, *, ill: bool = False) -> Loan:
    return Loan(
        loan_id=loan_id,
        patron_id="P1",
        item_id=f"i-{loan_id}",
        owner_library="mpu" if ill else "um",
        ill=ill,
        lender="mpu" if ill else None,
        checked_out_at=datetime(2027, 6, 1, 2, tzinfo=AT.tzinfo),
        checkout_date=date(2027, 6, 1),
        due_date=date(2027, 7, 1),
    )


def _charge(entry_id: str, minor: int, *, kind="lost_item", loan_id=None) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry_id,
        patron_id="P1",
        kind=kind,
        amount=Money(amount_minor=minor, currency="MOP"),
        at=AT - timedelta(days=5),
        on=ON - timedelta(days=5),
        rule="MALA-11",
        loan_id=loan_id,
    )


def _ledger(*entries: LedgerEntry) -> Ledger:
    return Ledger(patron_id="P1", currency="MOP", entries=entries)


def test_mala_14_lists_every_unfinished_inter_library_request_and_nothing_finished():
    rows = [_borrowing(n, s) for n, s in enumerate(RequesterState)]
    cleared = clearance("P1", rows, [], _ledger())
    listed = {i.state for i in cleared.ill_items}
    assert listed == {s.value for s in RequesterState if s not in FINISHED}
    out = next(i for i in cleared.ill_items if i.state == "CheckedOut")
    assert out.where == "with the patron" and out.lender == "mpu"
    assert not cleared.clear
    [refusal] = cleared.refusals("account closing")
    assert refusal.rule == "MALA-14"
    assert "before a patron graduates or leaves" in refusal.reason
    assert "HKALL's as MALA's" in refusal.reason


def test_mala_14_unpaid_lender_charges_and_fines_on_ill_loans_are_inter_library_charges():
    rows = [
        _borrowing(1, RequesterState.COMPLETED_WITHOUT_RETURN, charge_entry_id="e-lost"),
        _borrowing(2, RequesterState.COMPLETED, loan_id="L-ill"),
    ]
    ledger = _ledger(
        _charge("e-lost", 45_000),
        _charge("e-fine", 1_500, kind="overdue_fine", loan_id="L-ill"),
        _charge("e-own", 800, kind="overdue_fine", loan_id="L-own"),
    )
    cleared = clearance("P1", rows, [], ledger)
    assert cleared.ill_items == ()
    assert {c.entry_id for c in cleared.ill_charges} == {"e-lost", "e-fine"}
    assert {c.transaction_id for c in cleared.ill_charges} == {"t-1", "t-2"}
    assert cleared.ill_unpaid() == [Money(amount_minor=46_500, currency="MOP")]
    assert [c.entry_id for c in cleared.charges] == ["e-own"]
    rules = [r.rule for r in cleared.refusals("account closing")]
    assert rules == ["MALA-14", "HKPL-17"]
    assert "MOP 465.00 of inter-library charges unpaid" in cleared.ill_reason()  # type: ignore[operator]


def test_mala_14_a_paid_charge_and_a_completed_loan_leave_the_account_clear():
    rows = [_borrowing(1, RequesterState.COMPLETED_WITHOUT_RETURN, charge_entry_id="e-lost")]
    paid = payment_entry(
        "P1",
        Money(amount_minor=45_000, currency="MOP"),
        actor="desk",
        reason="paid at the counter",
        at=AT,
        on=ON,
        applies_to="e-lost",
    )
    cleared = clearance("P1", rows, [], _ledger(_charge("e-lost", 45_000), paid))
    assert cleared.clear and cleared.refusals("account closing") == []


def test_the_librarys_own_loans_are_listed_apart_from_the_ill_loan():
    rows = [_borrowing(1, RequesterState.CHECKED_OUT, loan_id="L-ill")]
    cleared = clearance("P1", rows, [_loan("L-ill", ill=True), _loan("L-own")], _ledger())
    assert [loan.loan_id for loan in cleared.loans] == ["L-own"]
    assert [i.transaction_id for i in cleared.ill_items] == ["t-1"]


def _creds() -> CredentialSet:
    return CredentialSet(
        patron_id="P1",
        cards=(LibraryCard(card_number="UM000001", issued_on=date(2023, 9, 1)),),
    )


def test_mala_14_closing_is_refused_while_an_item_is_out_and_allowed_once_clear():
    rows = [_borrowing(1, RequesterState.CHECKED_OUT)]
    holder = patron(library="um", category="student")
    refused = close_account(
        _creds(), holder, clearance("P1", rows, [], _ledger()), reason="graduation", at=AT, on=ON
    )
    assert not refused.decision.allowed
    assert refused.decision.rules == ["MALA-14"]
    assert refused.patron.cancelled_on is None and refused.credentials == _creds()

    rows = [_borrowing(1, RequesterState.COMPLETED)]
    closed = close_account(
        _creds(), holder, clearance("P1", rows, [], _ledger()), reason="left", at=AT, on=ON
    )
    assert closed.decision.allowed
    assert closed.patron.cancelled_on == ON
    assert [c.status for c in closed.credentials.cards] == ["cancelled"]
    assert [e.kind for e in closed.events] == ["account.cancelled"]
    again = close_account(
        closed.credentials,
        closed.patron,
        clearance("P1", rows, [], _ledger()),
        reason="left",
        at=AT,
        on=ON,
    )
    assert not again.decision.allowed and again.decision.rules == ["HKPL-17"]
