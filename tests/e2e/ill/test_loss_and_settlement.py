"""Inter-library loans that do not come back, end to end in both ways of running: the home
library's daily job treats a long-overdue item as lost (HKALL-19: the maximum fine reached;
MALA-09: more than one month overdue), its lender charges it by its own policy (HKALL-20,
MALA-11), the home library posts the charge to its patron, the broker's settlement ledger
records what the home library owes (MALA-13), and a patron cannot leave with an item or a
charge outstanding (MALA-14). The federation's clock is moved, never slept on."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import httpx
import pytest

from tests.e2e.ill.world import PASSWORD, Book, Patron, World, new_world

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


@pytest.fixture
async def world(federation):
    assert federation.proc.poll() is None, "the federation stopped:\n" + "".join(federation.output)
    async with httpx.AsyncClient(timeout=15) as http:
        yield new_world(federation, http)


async def _later(world: World, days: int, patron: Patron) -> Patron:
    world.move_clock(timedelta(days=days))
    return dataclasses.replace(
        patron, party=await world.tour.patron(patron.library, patron.card, PASSWORD)
    )


async def _priced_copy(world: World, library: str, book: Book, price_minor: int) -> dict:
    staff = await world.staff(library)
    point = world.fed.library(library).service_points[0].code
    return await staff.post(
        "/api/v1/items",
        {
            "barcode": f"S{uuid.uuid4().hex[:14].upper()}",
            "title": book.title,
            "authors": [book.author],
            "isbn": book.isbn,
            "year": book.year,
            "language": "en",
            "material_type": "book",
            "service_point": point,
            "price_minor": price_minor,
        },
    )


async def _out(world: World, home: str, lender: str, category: str, price_minor: int):
    """A new patron of ``home`` with ``lender``'s priced copy of a new title checked out."""
    book = Book.new(f"Never came back {category}")
    copy = await _priced_copy(world, lender, book, price_minor)
    record = await world.record_of(book, {lender: copy["id"]})
    patron = await world.register(home, category)
    pickup = world.fed.library(home).service_points[0].code
    txn = await world.request(patron, record["id"], pickup)
    shipped = await world.ship(lender, txn)
    await world.receive(home, txn, pickup)
    await (await world.staff(home)).post(f"/api/v1/ill/borrowing/{txn}/checkout")
    await world.lender_in(lender, txn, "Loaned")
    return patron, txn, shipped


async def _statement(world: World, home: str, lender: str) -> dict:
    found = await world.read(
        await world.broker(), "/api/v1/settlement/statements", library=home, counterparty=lender
    )
    assert found is not None
    return found


async def _entry(world: World, home: str, lender: str, txn: str) -> dict:
    def of(statement: dict) -> dict:
        return next(
            e
            for s in statement["statements"]
            if (s["home"], s["lender"]) == (home, lender)
            for e in s["entries"]
            if e["transaction_id"] == txn
        )

    found = await world.until(
        f"the settlement entry of {txn}",
        lambda: _statement(world, home, lender),
        lambda s: of(s) is not None,
    )
    return of(found)


async def _charges(world: World, patron: Patron) -> list[dict]:
    found = await world.read(
        await world.staff(patron.library), f"/api/v1/patrons/{patron.patron_id}/charges"
    )
    assert found is not None
    return found["entries"]


async def test_the_maximum_fine_suspends_the_item_is_assumed_lost_and_charged_HKALL_19_20(
    world: World,
):
    patron, txn, _ = await _out(world, "eduhk", "hku", "student", 48000)
    # HKALL-15/16: due on day 15; 10 days overdue, $2 a day on the lender's terms: $20,
    # and the overdue notice e-mailed
    patron = await _later(world, 25, patron)
    loan = await world.until(
        f"{txn} 10 days overdue",
        lambda: world.read(patron.party, "/api/v1/me/loans"),
        lambda found: found["loans"][0]["days_overdue"] == 10,
    )
    assert (loan["loans"][0]["fine_so_far_minor"], loan["loans"][0]["fine_currency"]) == (
        2000,
        "HKD",
    )
    await world.emailed(patron, "overdue")
    # HKALL-19: the $30 maximum is reached 15 days late: suspended, and assumed lost
    patron = await _later(world, 6, patron)
    done = await world.requester_in("eduhk", txn, "CompletedWithoutReturn")
    assert done["quota_held"] is False
    await world.lender_in("hku", txn, "CompletedWithoutReturn")
    await world.broker_in(txn, "CompletedWithoutReturn")
    # (The HKALL-19 suspension notice itself is proven in the integration tests: with the
    # clock moved past the day at once, the charge can end the loan before the overdue run.)
    charged = await world.emailed(patron, "ill_charged")
    assert charged["kind"] == "ill_charged"
    entries = await _charges(world, patron)
    lost = [e for e in entries if e["kind"] == "lost_item"]
    assert lost and lost[0]["currency"] == "HKD", entries
    fines = [e for e in entries if e["kind"] == "overdue_fine"]
    assert [f["amount_minor"] for f in fines] == [3000], entries  # capped at $30
    # MALA-13 (the consortium's ledger, HKALL's too): EdUHK owes HKU the lender's charge
    entry = await _entry(world, "eduhk", "hku", txn)
    assert (entry["amount_minor"], entry["currency"], entry["collected"]) == (
        lost[0]["amount_minor"],
        "HKD",
        False,
    )
    # The patron pays at home: the ledger shows it collected.
    staff = await world.staff("eduhk")
    await staff.post(
        f"/api/v1/patrons/{patron.patron_id}/payments",
        {
            "amount_minor": lost[0]["amount_minor"],
            "reason": "lost ILL book",
            "applies_to": lost[0]["entry_id"],
        },
    )
    await world.until(
        f"{txn} collected in the ledger",
        lambda: _entry(world, "eduhk", "hku", txn),
        lambda e: e["collected"],
    )


async def test_a_mala_item_a_month_overdue_is_lost_with_the_mala_11_charge_in_mop(world: World):
    patron, txn, _ = await _out(world, "um", "kwnc", "student", 30000)
    # MALA-09: more than one month overdue is handled as lost (due on day 14)
    patron = await _later(world, 14 + 32, patron)
    await world.requester_in("um", txn, "CompletedWithoutReturn")
    entries = await _charges(world, patron)
    lost = [e for e in entries if e["kind"] == "lost_item"]
    # MALA-11: the original price, MOP 300, plus the administrative fee of MOP 100
    assert [(e["amount_minor"], e["currency"], e["rule"]) for e in lost] == [
        (40000, "MOP", "MALA-11")
    ], entries
    entry = await _entry(world, "um", "kwnc", txn)
    assert (entry["amount_minor"], entry["currency"], entry["rule"]) == (40000, "MOP", "MALA-11")
    statement = await _statement(world, "um", "kwnc")
    mop = next(t for t in statement["totals"] if t["currency"] == "MOP")
    pair = [s for s in statement["statements"] if (s["home"], s["lender"]) == ("um", "kwnc")]
    assert mop["owed_minor"] >= 40000
    assert sum(e["amount_minor"] for s in pair for e in s["entries"]) == sum(
        s["owed_minor"] for s in pair
    )


async def test_a_patron_cannot_leave_with_an_ill_item_out_MALA_14(world: World):
    patron, txn, _ = await _out(world, "um", "kwnc", "staff", 20000)
    staff = await world.staff("um")
    clearance = await world.read(staff, f"/api/v1/patrons/{patron.patron_id}/clearance")
    assert clearance is not None and clearance["clear"] is False
    assert [i["transaction_id"] for i in clearance["ill_items"]] == [txn]
    refused = await world.raw_post(
        staff, f"/api/v1/patrons/{patron.patron_id}/close", {"reason": "left"}
    )
    assert refused.status_code == 409 and "MALA-14" in refused.json()["rules"], refused.text
    await world.return_at("um", txn, "main")
    await world.ship_back_and_check_in("um", "kwnc", txn)
    closed = await world.raw_post(
        staff, f"/api/v1/patrons/{patron.patron_id}/close", {"reason": "left"}
    )
    assert closed.status_code == 200, closed.text
