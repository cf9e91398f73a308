"""Inter-library loans after the checkout, end to end in both ways of running (ILL.md, "After
the checkout"): renewals asked at home and decided by the lender (HKALL-12/13, MALA-05),
recalls by the lender's staff or for a hold of one of its own users (HKALL-11), and the fines
and suspension that follow the lender's terms (HKALL-16, HKALL-18). The federation's clock is
moved, never slept on; each loan ends returned and checked in."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import httpx
import pytest

from tests.e2e.ill.world import PASSWORD, Book, Patron, World, new_world

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


@pytest.fixture
async def world(federation):
    assert federation.proc.poll() is None, "the federation stopped:\n" + "".join(federation.output)
    async with httpx.AsyncClient(timeout=15) as http:
        yield new_world(federation, http)


def _day(start: str, days: int) -> str:
    return (date.fromisoformat(start) + timedelta(days=days)).isoformat()


async def _later(world: World, days: int, *patrons: Patron) -> list[Patron]:
    """The whole federation ``days`` later; the patrons signed in again (tokens ran out)."""
    world.move_clock(timedelta(days=days))
    return [
        dataclasses.replace(p, party=await world.tour.patron(p.library, p.card, PASSWORD))
        for p in patrons
    ]


async def _out(world: World, home: str, lender: str, category: str, pickup: str):
    """A new patron of ``home`` with ``lender``'s copy of a new title checked out: the patron,
    the transaction, the lender's item and the day it shipped."""
    book = Book.new(f"After checkout {category}")
    record_id, copies = await world.shelved(book, lender)
    patron = await world.register(home, category)
    txn = await world.request(patron, record_id, pickup)
    shipped = await world.ship(lender, txn)
    await world.receive(home, txn, pickup)
    await (await world.staff(home)).post(f"/api/v1/ill/borrowing/{txn}/checkout")
    await world.lender_in(lender, txn, "Loaned")
    return patron, txn, copies[lender], shipped["shipped_on"]


async def _loan(world: World, patron: Patron, txn: str) -> dict:
    loans = await world.read(patron.party, "/api/v1/me/loans")
    assert loans is not None
    return next(x for x in loans["loans"] if x["ill"] and x["ill"]["transaction_id"] == txn)


async def _renew(world: World, patron: Patron, txn: str) -> dict:
    loan = await _loan(world, patron, txn)
    res = await world.raw_post(patron.party, "/api/v1/me/renewals", {"loan_ids": [loan["loan_id"]]})
    assert res.status_code == 201, res.text
    assert [p["loan_id"] for p in res.json()["pending"]] == [loan["loan_id"]], res.text
    return res.json()


async def _answered(world: World, patron: Patron, txn: str, state: str) -> dict:
    return await world.until(
        f"the renewal of {txn} {state}",
        lambda: _loan(world, patron, txn),
        lambda x: x["ill"]["renewal"] and x["ill"]["renewal"]["state"] == state,
    )


async def _bring_back(world: World, home: str, lender: str, txn: str, at: str) -> None:
    await world.return_at(home, txn, at)
    await world.ship_back_and_check_in(home, lender, txn)


async def test_a_renewal_waits_for_the_lender_and_is_approved_HKALL_13(world: World):
    patron, txn, _, shipped = await _out(world, "eduhk", "hku", "student", "mmw")
    (patron,) = await _later(world, 10, patron)
    asked = await _renew(world, patron, txn)
    assert "pending the approval of the lending library (hku)" in asked["pending"][0]["message"]
    loan = await _answered(world, patron, txn, "approved")
    # HKALL-12: 15 days from the day of renewal, by the lender's policy
    assert loan["due_date"] == _day(shipped, 25) and loan["renewals"] == 1
    lending = await world.lender_in("hku", txn, "Loaned")
    assert (lending["due_date"], lending["renewals"]) == (_day(shipped, 25), 1)
    await world.emailed(patron, "renewal_approved")
    await _bring_back(world, "eduhk", "hku", txn, "mmw")


async def test_a_lender_side_hold_recalls_the_item_and_refuses_its_renewal_HKALL_11_12(
    world: World,
):
    patron, txn, copy, shipped = await _out(world, "eduhk", "hku", "academic_staff", "tko")
    reader = await world.register("hku", "academic_staff")
    hku = await world.staff("hku")
    await hku.post(
        "/api/v1/holds",
        {"patron_id": reader.patron_id, "title_id": copy["title_id"], "pickup_location": "main"},
    )
    # HKALL-11: recalled for HKU's own reader on the day of checkout: the 30-day loan is due
    # at the end of the 15-day minimum use period, and the borrower is e-mailed at once.
    loan = await world.until(
        f"the recall of {txn} at home",
        lambda: _loan(world, patron, txn),
        lambda x: x["recalled_on"] is not None,
    )
    assert loan["due_date"] == _day(shipped, 15)
    await world.emailed(patron, "recall")
    await world.lender_in("hku", txn, "Recalled")

    await _renew(world, patron, txn)
    loan = await _answered(world, patron, txn, "denied")
    assert loan["ill"]["renewal"]["rule"] == "HKALL-12" and loan["due_date"] == _day(shipped, 15)
    await world.emailed(patron, "renewal_denied")
    await _bring_back(world, "eduhk", "hku", txn, "tko")


async def test_renewals_stop_at_45_days_in_all_HKALL_12(world: World):
    patron, txn, _, shipped = await _out(world, "eduhk", "hku", "student", "mmw")
    for move, due in ((14, 29), (14, 43), (14, 45)):
        (patron,) = await _later(world, move, patron)
        await _renew(world, patron, txn)
        loan = await world.until(
            f"the renewal of {txn} to day {due}",
            lambda patron=patron: _loan(world, patron, txn),
            lambda x, due=due: x["due_date"] == _day(shipped, due),
        )
        assert loan["ill"]["renewal"]["state"] == "approved"
    (patron,) = await _later(world, 2, patron)
    await _renew(world, patron, txn)
    loan = await _answered(world, patron, txn, "denied")
    assert loan["ill"]["renewal"]["rule"] == "HKALL-12"
    assert "45 days in all" in loan["ill"]["renewal"]["reason"]
    assert loan["due_date"] == _day(shipped, 45)
    await _bring_back(world, "eduhk", "hku", txn, "mmw")


async def test_mala_renews_once_MALA_05(world: World):
    patron, txn, _, shipped = await _out(world, "um", "kwnc", "student", "main")
    (patron,) = await _later(world, 5, patron)
    await _renew(world, patron, txn)
    loan = await _answered(world, patron, txn, "approved")
    assert loan["due_date"] == _day(shipped, 19)  # MALA-04/05: 14 days from the renewal
    await _renew(world, patron, txn)
    loan = await _answered(world, patron, txn, "denied")
    assert loan["ill"]["renewal"]["rule"] == "MALA-05"
    assert loan["due_date"] == _day(shipped, 19)
    await _bring_back(world, "um", "kwnc", txn, "main")


async def test_recalls_keep_the_minimum_use_period_then_fine_and_suspend_HKALL_11_16_18(
    world: World,
):
    """Two 30-day loans of one academic staff member: recalled on day 3, due on day 15 (the
    minimum use period); recalled on day 20, due on day 27 (7 days later, never after day 30).
    On day 25 the first is 10 days overdue at the recalled rate ($4 a day: $40), and the
    patron's borrowing is suspended (HKALL-18)."""
    patron, first, _, shipped = await _out(world, "eduhk", "hku", "academic_staff", "mmw")
    book = Book.new("After checkout second loan")
    record_id, _ = await world.shelved(book, "hku")
    second = await world.request(patron, record_id, "mmw")
    second_shipped = (await world.ship("hku", second))["shipped_on"]
    assert second_shipped == shipped, "both loans must ship the same day"
    await world.receive("eduhk", second, "mmw")
    await (await world.staff("eduhk")).post(f"/api/v1/ill/borrowing/{second}/checkout")
    await world.lender_in("hku", second, "Loaned")

    (patron,) = await _later(world, 3, patron)
    recalled = await (await world.staff("hku")).post(f"/api/v1/ill/lending/{first}/recall")
    assert recalled["due_date"] == _day(shipped, 15)
    await world.until(
        "the first recall at home",
        lambda: _loan(world, patron, first),
        lambda x: x["due_date"] == _day(shipped, 15),
    )
    (patron,) = await _later(world, 17, patron)
    recalled = await (await world.staff("hku")).post(f"/api/v1/ill/lending/{second}/recall")
    assert recalled["due_date"] == _day(shipped, 27)

    (patron,) = await _later(world, 5, patron)  # day 25
    loan = await world.until(
        "the recalled fine",
        lambda: _loan(world, patron, first),
        lambda x: x["days_overdue"] == 10,
    )
    assert (loan["fine_so_far_minor"], loan["fine_currency"]) == (4000, "HKD")
    other = Book.new("After checkout refused")
    other_record, _ = await world.shelved(other, "hku")
    res = await world.ask(patron, other_record, "mmw")
    assert res.status_code == 409, res.text
    assert "HKALL-18" in res.json()["rules"], res.text
    await _bring_back(world, "eduhk", "hku", first, "mmw")
    await _bring_back(world, "eduhk", "hku", second, "mmw")
