"""MALA-13 on the real broker and PostgreSQL: every lender charge the broker passes on (lost,
damaged) is an entry "home owes lender", a ChargePaid from the home library marks it collected
(also after the loan ended), each exactly once however often it is delivered; statements per
pair, currency and period over REST, as JSON and CSV, only to the parties and operators; the
statement sums match the ledger and the charges both sides sent and received."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from libs.common.contracts.ill import Money
from services.requests.adapters.tables import settlement_entries

pytestmark = pytest.mark.pg


async def _checked_out(world, home: str, lender: str) -> str:
    record = await world.catalogue_record(lender)
    req = world.request(home, record)
    await world.say(home, req)
    txn = req.transaction_id
    await world.lender_says(lender, txn, "WillSupply")
    await world.lender_says(lender, txn, "Loaned", reason="StatusChange")
    await world.requester_says(home, txn, "Received")
    await world.requester_says(home, txn, "CheckedOut")
    return txn


async def _lost_and_charged(world, home: str, lender: str, minor: int, currency: str) -> str:
    txn = await _checked_out(world, home, lender)
    await world.requester_says(home, txn, "Lost")
    await world.lender_says(
        lender,
        txn,
        "CompletedWithoutReturn",
        reason="StatusChange",
        charge=Money(amount_minor=minor, currency=currency),
        charge_kind="lost_item",
        charge_rule="MALA-11" if currency == "MOP" else "HKALL-20",
    )
    return txn


async def _entries(world) -> list[dict]:
    async with world.runtime.engine.connect() as conn:
        rows = await conn.execute(select(settlement_entries).order_by(settlement_entries.c.id))
        return [dict(r._mapping) for r in rows]


async def _statements(world, role="operator", library=None, **params):
    async with world.client(role, library) as c:
        res = await c.get("/api/v1/settlement/statements", params=params)
    assert res.status_code == 200, res.text
    return res.json()


async def test_mala_13_a_lost_items_charge_is_owed_and_collected_when_the_patron_pays(world):
    txn = await _lost_and_charged(world, "um", "mpu", 45_000, "MOP")
    [entry] = await _entries(world)
    assert (entry["home"], entry["lender"], entry["kind"], entry["rule"]) == (
        "um",
        "mpu",
        "lost_item",
        "MALA-11",
    )
    assert (entry["amount_minor"], entry["currency"], entry["transaction_id"]) == (
        45_000,
        "MOP",
        txn,
    )
    # MALA-13: liable whether or not the patron pays: owed, not collected yet
    [s] = (await _statements(world))["statements"]
    assert (s["owed_minor"], s["collected_minor"], s["outstanding_minor"]) == (45_000, 0, 45_000)

    world.clock.advance(days=3)
    paid = await world.requester_says("um", txn, "ChargePaid")  # after the loan ended
    # the lender is told through the broker, and the entry is collected
    assert world.received("mpu", txn, "ill.requester_message")[-1].payload["action"] == "ChargePaid"
    [entry] = await _entries(world)
    assert entry["collected_at"] == world.clock.now()
    assert entry["collected_message_id"] == paid.message_id
    [s] = (await _statements(world))["statements"]
    assert (s["owed_minor"], s["collected_minor"], s["outstanding_minor"]) == (45_000, 45_000, 0)
    assert s["entries"][0]["collected"] is True


async def test_mala_13_a_redelivered_charge_or_payment_counts_once(world):
    txn = await _checked_out(world, "um", "mpu")
    env = await world.lender_says(
        "mpu",
        txn,
        "Loaned",
        reason="Notification",
        charge=Money(amount_minor=2_500, currency="MOP"),
        charge_kind="damaged_item",
        charge_rule="MALA-11",
    )
    await world.publish("mpu", env)  # the bus delivers it again
    await world.settle()
    paid = await world.requester_says("um", txn, "ChargePaid")
    await world.publish("um", paid)
    await world.settle()
    [entry] = await _entries(world)
    assert (entry["kind"], entry["amount_minor"]) == ("damaged_item", 2_500)
    assert entry["collected_message_id"] == paid.message_id
    # the loan goes on: a damage charge does not end it
    assert (await world.transaction(txn))["state"] == "CheckedOut"


async def test_mala_13_a_refused_charge_enters_nothing(world):
    txn = await _checked_out(world, "um", "mpu")
    # a charge with no ISO currency, and a lost charge on a request nobody reported lost
    # from another library that was never asked
    await world.lender_says(
        "mpu",
        txn,
        "Loaned",
        reason="Notification",
        charge=Money(amount_minor=100, currency="mop"),
    )
    await world.lender_says(
        "usj",
        txn,
        "CompletedWithoutReturn",
        reason="StatusChange",
        charge=Money(amount_minor=100, currency="MOP"),
    )
    assert await _entries(world) == []
    errors = world.received("mpu", txn, "ill.error")
    assert errors and "ISO 4217" in errors[-1].payload["reason"]


async def test_mala_13_statement_sums_match_the_ledger_and_the_charges_on_both_sides(world):
    charges = [
        ("um", "mpu", 45_000, "MOP"),
        ("um", "mpu", 12_000, "MOP"),
        ("mpu", "um", 30_000, "MOP"),
        ("usj", "mpu", 7_500, "MOP"),
        ("hku", "cuhk", 60_000, "HKD"),
    ]
    txns = []
    for home, lender, minor, currency in charges:
        txns.append(await _lost_and_charged(world, home, lender, minor, currency))
    await world.requester_says("um", txns[0], "ChargePaid")
    await world.requester_says("hku", txns[4], "ChargePaid")

    # what each lender sent and each home library received, as the bus carried it
    sent = {}
    for (home, lender, _, _), txn in zip(charges, txns, strict=True):
        [received] = [
            e
            for e in world.received(home, txn, "ill.supplier_message")
            if e.payload["status"] == "CompletedWithoutReturn"
        ]
        sent[txn] = (home, lender, received.payload["charge"])
    body = await _statements(world)
    by_pair = {(s["home"], s["lender"], s["currency"]): s for s in body["statements"]}
    for key, s in by_pair.items():
        home, lender, currency = key
        charged = [c for h, le, c in sent.values() if (h, le, c["currency"]) == key]
        assert s["owed_minor"] == sum(c["amount_minor"] for c in charged)
        assert s["owed_minor"] == sum(e["amount_minor"] for e in s["entries"])
        assert s["owed_minor"] == s["collected_minor"] + s["outstanding_minor"]
    assert by_pair[("um", "mpu", "MOP")]["collected_minor"] == 45_000
    assert by_pair[("um", "mpu", "MOP")]["outstanding_minor"] == 12_000
    ledger = await _entries(world)
    assert {t["currency"]: t["owed_minor"] for t in body["totals"]} == {
        "HKD": sum(e["amount_minor"] for e in ledger if e["currency"] == "HKD"),
        "MOP": sum(e["amount_minor"] for e in ledger if e["currency"] == "MOP"),
    }

    # a library sees only the pairs it is party to; another's is refused
    um = await _statements(world, "library", "um")
    assert {(s["home"], s["lender"]) for s in um["statements"]} == {("um", "mpu"), ("mpu", "um")}
    with_usj = await _statements(world, "library", "mpu", counterparty="usj")
    assert [(s["home"], s["lender"]) for s in with_usj["statements"]] == [("usj", "mpu")]
    async with world.client("library", "um") as c:
        res = await c.get("/api/v1/settlement/statements", params={"library": "mpu"})
        assert res.status_code == 403
        assert res.headers["content-type"].startswith("application/problem+json")
    async with world.client("patron", "um") as c:
        assert (await c.get("/api/v1/settlement/statements")).status_code == 403

    # CSV for the finance office: one line per entry, the same sums
    async with world.client("library", "um") as c:
        res = await c.get("/api/v1/settlement/statements", headers={"Accept": "text/csv"})
        again = await c.get("/api/v1/settlement/statements.csv")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert again.text == res.text
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert len(rows) == 3
    assert sum(int(r["amount_minor"]) for r in rows if r["home_library"] == "um") == 57_000
    assert {r["collected"] for r in rows if r["transaction_id"] == txns[0]} == {"yes"}


async def test_mala_13_statements_by_period(world):
    first = await _lost_and_charged(world, "um", "mpu", 10_000, "MOP")
    world.clock.advance(days=40)
    second = await _lost_and_charged(world, "um", "mpu", 20_000, "MOP")
    first_day = world.clock.now().date()
    body = await _statements(world, **{"from": first_day.isoformat()})
    [s] = body["statements"]
    assert [e["transaction_id"] for e in s["entries"]] == [second]
    before = (first_day.replace(day=1)).isoformat()
    body = await _statements(world, **{"to": before})
    assert [e["transaction_id"] for s in body["statements"] for e in s["entries"]] == [first]
    async with world.client("operator") as c:
        res = await c.get(
            "/api/v1/settlement/statements", params={"from": "2027-02-01", "to": "2027-01-01"}
        )
        assert res.status_code == 422
        assert res.headers["content-type"].startswith("application/problem+json")


async def test_mala_13_damage_found_at_check_in_is_owed_and_pairs_are_netted(world):
    txn = await _checked_out(world, "um", "mpu")
    await world.requester_says("um", txn, "ShippedReturn")
    await world.lender_says("mpu", txn, "LoanCompleted", reason="StatusChange")
    await world.lender_says(
        "mpu",
        txn,
        "LoanCompleted",
        reason="Notification",
        charge=Money(amount_minor=8_000, currency="MOP"),
        charge_kind="damaged_item",
        charge_rule="MALA-11",
    )
    # passed on to the home library, which posts it to its patron
    [told] = [
        e
        for e in world.received("um", txn, "ill.supplier_message")
        if e.payload["reason"] == "Notification"
    ]
    assert told.payload["charge"] == {"amount_minor": 8_000, "currency": "MOP"}
    assert (await world.transaction(txn))["state"] == "LoanCompleted"
    await _lost_and_charged(world, "mpu", "um", 3_000, "MOP")
    body = await _statements(world, "library", "um")
    assert {(s["home"], s["lender"], s["owed_minor"]) for s in body["statements"]} == {
        ("um", "mpu", 8_000),
        ("mpu", "um", 3_000),
    }
    assert body["net"] == [
        {"debtor": "um", "creditor": "mpu", "currency": "MOP", "amount_minor": 5_000}
    ]


async def test_mala_13_a_statement_says_its_period(world):
    body = await _statements(world, **{"from": "2026-12-01", "to": "2026-12-31"})
    assert (body["from"], body["to"], body["statements"]) == ("2026-12-01", "2026-12-31", [])
