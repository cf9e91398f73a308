"""An inter-library loan after the patron took it home, on the real PostgreSQL with the home
library, the lender and the broker running (``ill_world``): overdue on the lender's terms
(HKALL-15, HKALL-16, MALA-08), suspension (HKALL-18, HKALL-19) and its lifting, assumed lost
(HKALL-19, MALA-09) reported Lost to the lender, the lender's charge by its own policy
(HKALL-20, MALA-11) posted to the patron, a claimed return settled by the lender's check-in
(HKALL-17), and the charge paid told to the lender. The lender's database never holds the
patron's personal data."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import MetaData, select, update

from libs.common.clock import ManualClock
from services.circulation.adapters.tables import ill_borrowing, ill_lending, loans
from tests.integration.circulation.conftest import hkt
from tests.integration.circulation.ill_world import Library, World, databases, drop, open_world

pytestmark = pytest.mark.pg
START = hkt(2026, 12, 1)
PERSONAL = ["WONG, Siu Ming", "Siu Ming", "siuming.wong@example.hk", "6123 9876", "Nathan Road"]


@pytest.fixture(scope="module")
def urls():
    made = databases("eduhk", "cityu", "um", "kwnc")
    yield made
    drop(made)


@pytest.fixture
async def world(urls):
    async with open_world(urls, ManualClock(START), "eduhk", "cityu", "um", "kwnc") as w:
        yield w


async def row_of(lib: Library, table, txn: str) -> dict:
    async with lib.runtime.engine.connect() as conn:
        found = (await conn.execute(select(table).where(table.c.transaction_id == txn))).one()
    return dict(found._mapping)


async def loan_of(lib: Library, loan_id: str) -> dict:
    async with lib.runtime.engine.connect() as conn:
        return dict((await conn.execute(select(loans).where(loans.c.id == loan_id))).one()._mapping)


async def ledger(lib: Library, patron_id: str) -> list[dict]:
    res = await lib.get(f"/api/v1/patrons/{patron_id}/charges")
    assert res.status_code == 200, res.text
    return res.json()["entries"]


def kinds(notices: list[dict]) -> list[str]:
    return [n["kind"] for n in notices]


async def lent(
    world: World,
    home: str,
    lender: str,
    *,
    pickup: str,
    category: str = "student",
    **copy,
) -> tuple[str, dict, dict]:
    """The patron of ``home`` asks for a copy only ``lender`` has, the lender ships it, the
    patron collects it: (transaction id, patron, the lender's copy)."""
    h, lend = world[home], world[lender]
    book = await lend.add_item(service_point="main", title=f"香港歷史 {lend.unique()}", **copy)
    record_id = await world.catalogued(lender, book)
    patron, token = await h.patron(category)
    res = await h.client.post(
        "/api/v1/me/ill-requests",
        json={"record_id": record_id, "pickup_location": pickup},
        headers=token,
    )
    assert res.status_code == 201, res.text
    txn = res.json()["transaction_id"]
    await world.settle()
    assert (await row_of(lend, ill_lending, txn))["state"] == "WillSupply"  # auto-accepted
    res = await lend.post(f"/api/v1/ill/lending/{txn}/ship", {"barcode": book["barcode"]})
    assert res.status_code == 200, res.text
    await world.settle()
    res = await h.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": pickup})
    assert res.status_code == 200, res.text
    res = await h.post(f"/api/v1/ill/borrowing/{txn}/checkout")
    assert res.status_code == 200 and res.json()["state"] == "CheckedOut", res.text
    await world.settle()
    return txn, patron, book


async def lender_dump(lib: Library) -> str:
    async with lib.runtime.engine.connect() as conn:
        found = MetaData()
        await conn.run_sync(found.reflect)
        dump = []
        for table in found.sorted_tables:
            rows = (await conn.execute(table.select())).mappings().all()
            dump.append(json.dumps([dict(r) for r in rows], default=str, ensure_ascii=False))
    return "\n".join(dump).lower()


# --------------------------------------------------------------------------- overdue, fines


async def test_overdue_10_days_is_hkd_20_on_the_lenders_terms_HKALL_15_HKALL_16(world: World):
    eduhk, cityu = world["eduhk"], world["cityu"]
    txn, patron, book = await lent(world, "eduhk", "cityu", pickup="mmw")
    due = (await row_of(eduhk, ill_borrowing, txn))["due_date"]
    assert due == date(2026, 12, 16)  # HKALL-08: a student's 15 days, the lender's date
    loan = await loan_of(eduhk, (await row_of(eduhk, ill_borrowing, txn))["loan_id"])
    assert loan["lender_terms"]["currency"] == "HKD"
    assert loan["lender_terms"]["fines"]["normal"] == {"per_day_minor": 200, "cap_minor": 3000}

    await world.travel(hkt(2026, 12, 17, 9))  # a day late: the first reminder
    await world.run("eduhk", "overdue-notices")
    await world.travel(hkt(2026, 12, 26, 9))  # 10 days late
    # the lender's daily job: Overdue, told through the broker, noted at home
    assert await world.run("cityu", "ill-lending-overdue") == 1
    assert await world.run("cityu", "ill-lending-overdue") == 0  # idempotent
    assert (await row_of(cityu, ill_lending, txn))["state"] == "Overdue"
    history = (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"]
    assert history[-1]["event"] == "supplier:Overdue" and history[-1]["to_state"] == "CheckedOut"

    # HKALL-15: the home library's reminders, with the fine so far on the lender's terms
    await world.run("eduhk", "overdue-notices")
    await world.run("eduhk", "overdue-notices")
    overdue = [n for n in await eduhk.notices(patron["patron_id"]) if n["kind"] == "overdue"]
    assert [(n["amount_minor"], n["currency"]) for n in overdue] == [(200, "HKD"), (2000, "HKD")]

    # HKALL-16: returned: $2 a day for 10 days
    res = await eduhk.post("/api/v1/returns", {"barcode": book["barcode"], "service_point": "tko"})
    assert res.status_code == 201, res.text
    [fine] = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "overdue_fine"]
    assert (fine["amount_minor"], fine["currency"], fine["rule"]) == (2000, "HKD", "HKALL-16")


async def test_recalled_and_10_days_overdue_is_hkd_40_and_suspends_HKALL_16_HKALL_18(
    world: World,
):
    eduhk = world["eduhk"]
    txn, patron, book = await lent(world, "eduhk", "cityu", pickup="mmw")
    row = await row_of(eduhk, ill_borrowing, txn)
    # The lender's recall has shortened the loan (the recall itself: its own tests).
    async with eduhk.runtime.engine.begin() as conn:
        await conn.execute(
            update(loans)
            .where(loans.c.id == row["loan_id"])
            .values(recalled_on=date(2026, 12, 3), due_date=date(2026, 12, 10))
        )
    await world.travel(hkt(2026, 12, 20, 9))  # 10 days past the recalled due date
    await world.run("eduhk", "overdue-notices")
    notices = await eduhk.notices(patron["patron_id"])
    [suspension] = [n for n in notices if n["kind"] == "suspension"]
    assert suspension["rule"] == "HKALL-18"
    # HKALL-18: all borrowing suspended at home: a local loan and a new ILL request
    own = await eduhk.add_item(service_point="mmw")
    res = await eduhk.checkout(patron["card_number"], own)
    assert res.status_code == 409 and "HKALL-18" in res.json()["rules"], res.text
    other = await world.catalogued(
        "cityu", await world["cityu"].add_item(service_point="main", title="另一本")
    )
    token = await eduhk.token(patron)
    res = await eduhk.client.post(
        "/api/v1/me/ill-requests",
        json={"record_id": other, "pickup_location": "mmw"},
        headers=token,
        params={"dry_run": "true"},
    )
    assert res.status_code == 200 and "HKALL-18" in res.json()["rules"], res.text

    # HKALL-16: the recalled rate, $4 a day
    res = await eduhk.post("/api/v1/returns", {"barcode": book["barcode"], "service_point": "mmw"})
    assert res.status_code == 201, res.text
    [fine] = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "overdue_fine"]
    assert (fine["amount_minor"], fine["currency"]) == (4000, "HKD")
    # The condition is cleared: the lifting is e-mailed, once.
    assert await world.run("eduhk", "suspension-lifted") == 1
    assert await world.run("eduhk", "suspension-lifted") == 0
    [lifted] = [
        n for n in await eduhk.notices(patron["patron_id"]) if n["kind"] == "suspension_lifted"
    ]
    assert lifted["rule"] == "HKALL-18" and "restored" in lifted["reason"]


# ------------------------------------------------------------- assumed lost and the charge


async def test_max_fine_suspends_assumed_lost_lost_sent_and_charge_posted_HKALL_19_HKALL_20(
    world: World,
):
    eduhk, cityu = world["eduhk"], world["cityu"]
    txn, patron, book = await lent(world, "eduhk", "cityu", pickup="mmw", price_minor=48000)
    await world.travel(hkt(2026, 12, 31, 9))  # 15 days late: the maximum fine, $30
    await world.run("eduhk", "overdue-notices")
    suspensions = [n for n in await eduhk.notices(patron["patron_id"]) if n["kind"] == "suspension"]
    assert [n["rule"] for n in suspensions] == ["HKALL-19"]

    # HKALL-19: assumed lost; the lender is told Lost and answers with its charge (HKALL-20)
    assert await world.run("eduhk", "assumed-lost") == 1
    assert await world.run("eduhk", "assumed-lost") == 0
    lending = await row_of(cityu, ill_lending, txn)
    assert lending["state"] == "CompletedWithoutReturn"
    assert (lending["charge_minor"], lending["charge_rule"]) == (48000, "HKALL-20")
    assert lending["lost_on"] == date(2026, 12, 31)
    assert (await cityu.item(book["id"]))["status"] == "LOST"

    row = await row_of(eduhk, ill_borrowing, txn)
    assert (row["state"], row["quota_held"]) == ("CompletedWithoutReturn", False)
    assert (row["charge_minor"], row["charge_currency"], row["charge_kind"]) == (
        48000,
        "HKD",
        "lost_item",
    )
    sent = [
        e["payload"].get("action")
        for e in await eduhk.messages("ill.requester_message")
        if e["correlation_id"] == txn
    ]
    assert sent[-1] == "Lost"
    entries = await ledger(eduhk, patron["patron_id"])
    lost = next(e for e in entries if e["kind"] == "lost_item")
    assert (lost["amount_minor"], lost["currency"], lost["rule"]) == (48000, "HKD", "HKALL-20")
    assert "cityu" in lost["description"] and txn in lost["description"]
    fine = next(e for e in entries if e["kind"] == "overdue_fine")
    assert fine["amount_minor"] == 3000  # capped: the item never came back
    assert (await loan_of(eduhk, row["loan_id"]))["returned_at"] is not None
    assert (await eduhk.get(f"/api/v1/items/{row['item_id']}")).json()["status"] == "WITHDRAWN"
    [charged] = [n for n in await eduhk.notices(patron["patron_id"]) if n["kind"] == "ill_charged"]
    assert (charged["amount_minor"], charged["currency"]) == (48000, "HKD")
    assert (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["charge"]["amount_minor"] == (
        48000
    )

    # The condition is cleared (charged): the suspension's lifting is e-mailed.
    assert await world.run("eduhk", "suspension-lifted") == 1

    # Paid at the desk: the lender is told ChargePaid (MALA-13's ledger follows it).
    res = await eduhk.post(
        f"/api/v1/patrons/{patron['patron_id']}/payments",
        {"amount_minor": 51000, "reason": "paid at the counter", "received_by": "counter 1"},
    )
    assert res.status_code == 201, res.text
    await world.settle()
    assert (await row_of(eduhk, ill_borrowing, txn))["charge_paid_at"] is not None
    assert (await row_of(cityu, ill_lending, txn))["charge_paid_on"] == date(2026, 12, 31)

    # Privacy: the lender's tables, after all this, hold nothing of the patron's.
    dump = await lender_dump(cityu)
    assert [v for v in PERSONAL if v.lower() in dump] == []
    assert patron["card_number"].lower() not in dump


async def test_a_mala_item_31_days_overdue_is_lost_with_the_MALA_11_charge_in_mop(
    world: World,
):
    um, kwnc = world["um"], world["kwnc"]
    # No price: MOP 1 a page, plus the MOP 100 administrative fee (MALA-11).
    txn, patron, _ = await lent(world, "um", "kwnc", pickup="wlg", pages=250)
    due = (await row_of(um, ill_borrowing, txn))["due_date"]
    assert due == date(2026, 12, 15)  # MALA-04: 14 days
    await world.travel(hkt(2027, 1, 15, 9))  # a month late: not yet lost (MALA-09)
    assert await world.run("um", "assumed-lost") == 0
    await world.travel(hkt(2027, 1, 16, 9))  # more than a month
    assert await world.run("um", "assumed-lost") == 1
    lending = await row_of(kwnc, ill_lending, txn)
    assert lending["state"] == "CompletedWithoutReturn"
    assert (lending["charge_minor"], lending["charge_currency"], lending["charge_rule"]) == (
        35000,
        "MOP",
        "MALA-11",
    )
    entries = await ledger(um, patron["patron_id"])
    lost = next(e for e in entries if e["kind"] == "lost_item")
    assert (lost["amount_minor"], lost["currency"], lost["rule"]) == (35000, "MOP", "MALA-11")
    fine = next(e for e in entries if e["kind"] == "overdue_fine")
    assert (fine["amount_minor"], fine["currency"], fine["rule"]) == (6000, "MOP", "MALA-08")
    assert (await row_of(um, ill_borrowing, txn))["state"] == "CompletedWithoutReturn"
    dump = await lender_dump(kwnc)
    assert [v for v in PERSONAL if v.lower() in dump] == []


async def test_a_copy_the_lender_cannot_price_waits_for_its_staff_HKALL_20(world: World):
    eduhk, cityu = world["eduhk"], world["cityu"]
    txn, patron, _ = await lent(world, "eduhk", "cityu", pickup="mmw")  # no price, no pages
    token = await eduhk.token(patron)
    res = await eduhk.client.post(f"/api/v1/me/ill-requests/{txn}/lost", headers=token)
    assert res.status_code == 200 and res.json()["state"] == "Lost", res.text
    await world.settle()
    assert (await row_of(cityu, ill_lending, txn))["state"] == "Lost"
    assert (await row_of(eduhk, ill_borrowing, txn))["state"] == "Lost"
    # Not while it is out: only a lost copy gets a lost copy's charge.
    res = await cityu.post(f"/api/v1/ill/lending/{txn}/charge", {"amount_minor": 0})
    assert res.status_code == 422
    res = await cityu.post(f"/api/v1/ill/lending/{txn}/charge", {"amount_minor": 65000})
    assert res.status_code == 200 and res.json()["state"] == "CompletedWithoutReturn", res.text
    assert res.json()["charge_minor"] == 65000
    again = await cityu.post(f"/api/v1/ill/lending/{txn}/charge", {"amount_minor": 65000})
    assert again.status_code == 200
    await world.settle()
    row = await row_of(eduhk, ill_borrowing, txn)
    assert (row["state"], row["charge_minor"]) == ("CompletedWithoutReturn", 65000)
    lost = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "lost_item"]
    assert [e["amount_minor"] for e in lost] == [65000]  # once


async def test_a_damaged_item_is_charged_and_the_loan_goes_on_HKALL_20(world: World):
    eduhk = world["eduhk"]
    txn, patron, _ = await lent(world, "eduhk", "cityu", pickup="mmw", price_minor=30000)
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/damaged")
    assert res.status_code == 200 and res.json()["state"] == "CheckedOut", res.text
    await world.settle()
    row = await row_of(eduhk, ill_borrowing, txn)
    assert (row["state"], row["charge_kind"], row["charge_minor"]) == (
        "CheckedOut",
        "damaged_item",
        30000,
    )
    [damage] = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "damaged_item"]
    assert (damage["amount_minor"], damage["rule"]) == (30000, "HKALL-20")
    assert (await loan_of(eduhk, row["loan_id"]))["returned_at"] is None


# ------------------------------------------------------------------------ claimed returned


async def test_claimed_returned_stops_the_fine_and_the_lenders_check_in_settles_it_HKALL_17(
    world: World,
):
    eduhk, cityu = world["eduhk"], world["cityu"]
    txn, patron, book = await lent(world, "eduhk", "cityu", pickup="mmw")
    await world.travel(hkt(2027, 1, 5, 9))  # 20 days late: $40, over the $30 cap
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/claimed-returned")
    assert res.status_code == 200 and res.json()["state"] == "ClaimedReturned", res.text
    await world.settle()
    assert (await row_of(cityu, ill_lending, txn))["claimed_returned_on"] == date(2027, 1, 5)
    loan = await loan_of(eduhk, (await row_of(eduhk, ill_borrowing, txn))["loan_id"])
    assert (loan["loss"], loan["loss_marked_on"]) == ("claimed_returned", date(2027, 1, 5))

    await world.travel(hkt(2027, 1, 12, 9))  # found on the lender's shelf a week later
    res = await cityu.post(f"/api/v1/ill/lending/{txn}/check-in")
    assert res.status_code == 200 and res.json()["state"] == "LoanCompleted", res.text
    assert (await cityu.item(book["id"]))["status"] == "AVAILABLE"
    await world.settle()
    row = await row_of(eduhk, ill_borrowing, txn)
    assert (row["state"], row["quota_held"]) == ("Completed", False)
    assert (await loan_of(eduhk, row["loan_id"]))["returned_at"] is not None
    [fine] = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "overdue_fine"]
    # HKALL-17: no cap once claimed returned; the fine stopped on the day of the claim
    assert (fine["amount_minor"], fine["rule"]) == (4000, "HKALL-17")
    dump = await lender_dump(cityu)
    assert [v for v in PERSONAL if v.lower() in dump] == []


async def test_a_lost_item_found_before_it_was_charged_comes_back_uncapped_HKALL_17(
    world: World,
):
    eduhk, cityu = world["eduhk"], world["cityu"]
    txn, patron, book = await lent(world, "eduhk", "cityu", pickup="mmw")  # no price, no pages
    await world.travel(hkt(2027, 1, 5, 9))
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/lost")
    assert res.status_code == 200 and res.json()["state"] == "Lost", res.text
    await world.settle()
    assert (await row_of(cityu, ill_lending, txn))["state"] == "Lost"  # waiting for its staff
    await world.travel(hkt(2027, 1, 6, 9))  # the patron finds it: 21 days late
    res = await eduhk.post("/api/v1/returns", {"barcode": book["barcode"], "service_point": "mmw"})
    assert res.status_code == 201, res.text
    [fine] = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "overdue_fine"]
    assert (fine["amount_minor"], fine["rule"]) == (4200, "HKALL-17")  # no $30 cap
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/ship-back")
    assert res.json()["state"] == "ShippedReturn", res.text
    await world.settle()
    assert (await row_of(cityu, ill_lending, txn))["state"] == "ReturnShipped"
    res = await cityu.post(f"/api/v1/ill/lending/{txn}/check-in")
    assert res.json()["state"] == "LoanCompleted", res.text
    await world.settle()
    assert (await row_of(eduhk, ill_borrowing, txn))["state"] == "Completed"
    fines = [e for e in await ledger(eduhk, patron["patron_id"]) if e["kind"] == "overdue_fine"]
    assert len(fines) == 1  # the loan ended once
