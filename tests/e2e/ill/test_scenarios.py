"""Inter-library loans end to end, each scenario in both ways of running (embedded and
distributed), through the public APIs only: lenders' staff shelve their own uniquely titled
copies (so each test decides who can lend), the home library registers its own patrons, and
the tests play the patrons and every library's staff. The federation's clock is moved, never
slept on, for the broker's answer deadline and the pickup window."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.ill.world import QUIET_SECONDS, Book, World, new_world

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def world(federation):
    # A federation that could not take its ports has exited: its tests would talk to whatever
    # else listens there.
    assert federation.proc.poll() is None, "the federation stopped:\n" + "".join(federation.output)
    async with httpx.AsyncClient(timeout=15) as http:
        yield new_world(federation, http)


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _refused(res: httpx.Response, rule: str) -> dict:
    """A 409 RFC 9457 refusal naming ``rule``."""
    assert res.status_code == 409, res.text
    assert res.headers["content-type"].startswith(PROBLEM_JSON), res.headers
    problem = res.json()
    assert rule in problem["rules"], problem
    assert rule in {r["rule"] for r in problem["refusals"]}, problem
    return problem


def _local_day(at: str) -> str:
    """The Hong Kong calendar day of a UTC timestamp (the HKALL libraries' day)."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("Asia/Hong_Kong")).date().isoformat()


def _events(history: list[dict]) -> list[str]:
    return [h["event"] for h in history]


# ------------------------------------------------------------------------------ 1


async def test_student_collects_at_tko_returns_at_mmw_HKALL_05_HKALL_07_HKALL_08(
    world: World,
):
    """An HKALL student at EdUHK borrows a book only HKU holds: collected at Tseung Kwan O
    (the arrival e-mailed, HKALL-05), on HKU's 15-day student terms (HKALL-08), returned at
    MMW (HKALL-07), and the quota is back at the end."""
    book = Book.new("Tides of the Pearl River")
    record_id, copies = await world.shelved(book, "hku")
    patron = await world.register("eduhk", "student")

    dry = await world.ask(patron, record_id, "tko", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["accepted"] is True and dry.json()["lenders"] == ["hku"], dry.json()

    txn = await world.request(patron, record_id, "tko")
    asked = await world.requester_in("eduhk", txn, "ExpectToSupply", "WillSupply")
    assert asked["quota_held"] is True
    await world.broker_in(txn, "ExpectToSupply", "WillSupply", lender="hku")

    shipped = await world.ship("hku", txn)
    assert shipped["state"] == "Loaned" and shipped["item_id"] == copies["hku"]["id"]
    terms = shipped["loan_terms"]
    assert terms["loan_days"] == 15 and "HKALL-08" in terms["rules"], terms
    assert _days(shipped["shipped_on"], shipped["due_date"]) == 15, shipped
    assert terms["due_date"] == shipped["due_date"]
    hku_item = await (await world.staff("hku")).get(f"/api/v1/items/{copies['hku']['id']}")
    assert hku_item["status"] == "ON_ILL_LOAN"

    received = await world.receive("eduhk", txn, "tko")
    assert received["state"] == "AwaitingPickup" and received["pickup_by"], received
    arrived = await world.emailed(patron, "ill_arrived")
    assert arrived["payload"]["title"] == book.title
    assert arrived["payload"]["pickup_location"] == "Tseung Kwan O Study Centre Library"

    home = await world.staff("eduhk")
    out = await home.post(f"/api/v1/ill/borrowing/{txn}/checkout")
    assert out["state"] == "CheckedOut" and out["due_date"] == shipped["due_date"], out
    loans = (await patron.party.get("/api/v1/me/loans"))["loans"]
    mine = [x for x in loans if x["item_id"] == out["item_id"]]
    assert [x["due_date"] for x in mine] == [shipped["due_date"]], loans

    back = await world.return_at("eduhk", txn, "mmw")
    assert back["returned_to"] == "mmw", back
    returned = await world.requester_in("eduhk", txn, "Returned")
    assert returned["quota_held"] is True  # held until the lender has it back
    await world.ship_back_and_check_in("eduhk", "hku", txn)

    done = await home.get(f"/api/v1/ill/borrowing/{txn}")
    assert done["state"] == "Completed" and done["quota_held"] is False, done
    events = _events(done["history"])
    assert "receive@tko" in events and "returned@mmw" in events, events
    hku_item = await (await world.staff("hku")).get(f"/api/v1/items/{copies['hku']['id']}")
    assert hku_item["status"] == "AVAILABLE"
    # The quota is back: the same title may be asked for again.
    await world.record_of(book, {"hku": copies["hku"]["id"]})
    again = await world.ask(patron, record_id, "mmw", dry_run=True)
    assert again.status_code == 200 and again.json()["accepted"] is True, again.text


# ------------------------------------------------------------------------------ 2


async def test_academic_staff_get_30_day_terms_HKALL_08(world: World):
    """An HKALL academic staff member's loan runs 30 days from the day the lender shipped,
    by the lender's terms (HKALL-08), and the checkout at home takes that due date."""
    book = Book.new("Pedagogy in the Delta")
    record_id, _ = await world.shelved(book, "hku")
    patron = await world.register("eduhk", "academic_staff")
    txn = await world.request(patron, record_id, "mmw")

    shipped = await world.ship("hku", txn)
    assert shipped["patron_category"] == "academic_staff"
    terms = shipped["loan_terms"]
    assert terms["loan_days"] == 30 and "HKALL-08" in terms["rules"], terms
    assert _days(shipped["shipped_on"], terms["due_date"]) == 30, shipped

    await world.receive("eduhk", txn, "mmw")
    out = await (await world.staff("eduhk")).post(f"/api/v1/ill/borrowing/{txn}/checkout")
    assert out["due_date"] == terms["due_date"], out
    assert _days(shipped["shipped_on"], out["due_date"]) == 30

    await world.return_at("eduhk", txn, "mmw")
    await world.ship_back_and_check_in("eduhk", "hku", txn)


# ------------------------------------------------------------------------------ 3


async def test_mala_user_refused_a_third_item_from_kwnc_MALA_02(world: World):
    """A MALA user at UM with two requests in flight from KWNC is refused a third from KWNC
    (MALA-02: at most 2 items at a time from one lender, requests included); once those are
    cancelled, the third may be asked for."""
    books = [Book.new(f"Macau Harbour Notes vol {n}") for n in (1, 2, 3)]
    shelved = [await world.shelved(b, "kwnc") for b in books]
    records = [record_id for record_id, _ in shelved]
    patron = await world.register("um", "student")

    first = await world.request(patron, records[0], "main")
    second = await world.request(patron, records[1], "main")
    for txn in (first, second):
        await world.broker_in(txn, "ExpectToSupply", "WillSupply", lender="kwnc")

    dry = await world.ask(patron, records[2], "main", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["accepted"] is False and "MALA-02" in dry.json()["rules"], dry.json()
    _refused(await world.ask(patron, records[2], "main"), "MALA-02")
    mine = (await patron.party.get("/api/v1/me/ill-requests"))["requests"]
    assert sorted(r["transaction_id"] for r in mine) == sorted([first, second])

    for txn in (first, second):
        await patron.party.post(f"/api/v1/me/ill-requests/{txn}/cancel")
    for txn in (first, second):
        cancelled = await world.requester_in("um", txn, "Cancelled")
        assert cancelled["quota_held"] is False
        await world.lender_in("kwnc", txn, "Cancelled")
    # KWNC had held its copies for the two (WillSupply): they are back on its shelf.
    kwnc = await world.staff("kwnc")
    for _, copies in shelved[:2]:
        item = await kwnc.get(f"/api/v1/items/{copies['kwnc']['id']}")
        assert item["status"] == "AVAILABLE", item
    again = await world.ask(patron, records[2], "main", dry_run=True)
    assert again.json()["accepted"] is True, again.json()


# ------------------------------------------------------------------------------ 4


async def test_first_lender_unfilled_the_second_supplies(world: World):
    """HKBU, the only holder when asked, answers unfilled with its reason; a copy has come in
    at HKU meanwhile: the broker asks HKU, which supplies; the requester's history shows the
    routing (HKBU asked, declined, HKU asked)."""
    book = Book.new("Letters from Kowloon Tong")
    record_id, _ = await world.shelved(book, "hkbu")
    patron = await world.register("eduhk", "student")
    txn = await world.request(patron, record_id, "mmw")
    await world.broker_in(txn, "ExpectToSupply", lender="hkbu")
    await world.lender_in("hkbu", txn, "RequestReceived")

    hku = await world.add_copy("hku", book)
    await world.record_of(book, {"hku": hku["id"]})
    declined = await (await world.staff("hkbu")).post(
        f"/api/v1/ill/lending/{txn}/unfilled", {"reason": "the copy is at the bindery"}
    )
    assert declined["state"] == "Unfilled"
    assert declined["refusal_reason"] == "the copy is at the bindery"

    brokered = await world.broker_in(txn, "ExpectToSupply", "WillSupply", lender="hku")
    tried = {t["lender"]: t["outcome"] for t in brokered["lenders_tried"]}
    assert tried.get("hkbu") == "declined", brokered["lenders_tried"]
    shipped = await world.ship("hku", txn)
    assert shipped["item_id"] == hku["id"]
    at_home = await world.requester_in("eduhk", txn, "Shipped")
    assert at_home["lender"] == "hku"

    events = _events(at_home["history"])
    routed = [e for e in events if e.startswith("routing:")]
    assert routed == ["routing:hkbu", "routing:hku"], events
    # The broker's history holds HKBU's answer, with its reason, before HKU was asked.
    history = (await world.brokered(txn) or {})["history"]
    said = [h for h in history if h["side"] == "supplier" and h["status"] == "Unfilled"]
    assert said and said[0]["actor"] == "hkbu", history
    assert "the copy is at the bindery" in (said[0]["detail"] or ""), said
    await world.lender_in("hkbu", txn, "Unfilled")

    await world.receive("eduhk", txn, "mmw")
    await (await world.staff("eduhk")).post(f"/api/v1/ill/borrowing/{txn}/checkout")
    await world.return_at("eduhk", txn, "mmw")
    await world.ship_back_and_check_in("eduhk", "hku", txn)


# ------------------------------------------------------------------------------ 5


async def test_a_silent_lender_is_skipped_after_48_hours(world: World):
    """HKBU is asked and never answers; past the consortium's lender_answer_hours (48, policy
    [ill]) the broker sends HKBU a Cancel (its lending ends Cancelled) and asks HKU, which
    supplies. The clock is moved 49 hours, not slept on."""
    book = Book.new("A Quiet Library in Kowloon")
    record_id, hkbu_copies = await world.shelved(book, "hkbu")
    patron = await world.register("eduhk", "student")
    txn = await world.request(patron, record_id, "tko")
    asked = await world.broker_in(txn, "ExpectToSupply", lender="hkbu")
    assert asked["answer_due"] is not None, asked
    await world.lender_in("hkbu", txn, "RequestReceived")

    hku = await world.add_copy("hku", book)
    await world.record_of(book, {"hku": hku["id"]})
    # Not yet: the broker waits for HKBU.
    still = await world.brokered(txn)
    assert still is not None and still["current_lender"] == "hkbu", still

    world.move_clock(timedelta(hours=49))
    brokered = await world.broker_in(txn, "ExpectToSupply", "WillSupply", lender="hku")
    tried = {t["lender"]: t["outcome"] for t in brokered["lenders_tried"]}
    assert tried.get("hkbu") == "no_answer", brokered["lenders_tried"]
    await world.lender_in("hkbu", txn, "Cancelled")
    # A late yes from HKBU's staff is refused: the request has gone elsewhere.
    late = await world.raw_post(await world.staff("hkbu"), f"/api/v1/ill/lending/{txn}/will-supply")
    assert late.status_code == 409, late.text
    assert late.headers["content-type"].startswith(PROBLEM_JSON)
    hkbu_item = await (await world.staff("hkbu")).get(f"/api/v1/items/{hkbu_copies['hkbu']['id']}")
    assert hkbu_item["status"] == "AVAILABLE"

    shipped = await world.ship("hku", txn)
    assert shipped["item_id"] == hku["id"]
    at_home = await world.requester_in("eduhk", txn, "Shipped")
    assert at_home["lender"] == "hku"
    routed = [e for e in _events(at_home["history"]) if e.startswith("routing:")]
    assert routed == ["routing:hkbu", "routing:hku"], at_home["history"]
    await world.receive("eduhk", txn, "tko")
    await (await world.staff("eduhk")).post(f"/api/v1/ill/borrowing/{txn}/checkout")
    await world.return_at("eduhk", txn, "mmw")
    await world.ship_back_and_check_in("eduhk", "hku", txn)


# ------------------------------------------------------------------------------ 6


async def test_nobody_can_supply_the_request_ends_unfilled(world: World):
    """The only holder, HKBU, answers unfilled: nobody is left to ask, so the requester's
    request ends Unfilled, the quota is back and the patron is e-mailed (ill_unfilled)."""
    book = Book.new("The Lost Map of Sai Kung")
    record_id, _ = await world.shelved(book, "hkbu")
    patron = await world.register("eduhk", "postgraduate")
    txn = await world.request(patron, record_id, "mmw")
    await world.lender_in("hkbu", txn, "RequestReceived")

    await (await world.staff("hkbu")).post(
        f"/api/v1/ill/lending/{txn}/unfilled", {"reason": "missing from the shelf"}
    )
    unfilled = await world.requester_in("eduhk", txn, "Unfilled")
    assert unfilled["quota_held"] is False
    await world.broker_in(txn, "Unfilled")
    await world.lender_in("hkbu", txn, "Unfilled")
    notice = await world.emailed(patron, "ill_unfilled")
    assert notice["payload"]["title"] == book.title
    mine = await patron.party.get(f"/api/v1/me/ill-requests/{txn}")
    assert mine["state"] == "Unfilled"


# ------------------------------------------------------------------------------ 7


async def test_not_picked_up_in_5_days_goes_back_without_a_notice_HKALL_06(world: World):
    """The item waits at the pickup point 5 days from the arrival notice (HKALL-06); 6 days
    on (the clock moved) the request is NotPickedUp, the patron gets no notice beyond the
    arrival one, and the item goes back to HKU, which checks it in: complete."""
    book = Book.new("Unclaimed Tales of Tai Po")
    record_id, copies = await world.shelved(book, "hku")
    patron = await world.register("eduhk", "student")
    txn = await world.request(patron, record_id, "tko")
    await world.ship("hku", txn)
    await world.receive("eduhk", txn, "tko")
    arrived = await world.emailed(patron, "ill_arrived")
    received = await world.borrowing("eduhk", txn)
    # The window: 5 days from the day of the notice, by the library's own calendar.
    noticed = _local_day(next(h["at"] for h in received["history"] if h["event"] == "receive@tko"))
    assert _days(noticed, received["pickup_by"]) == 5, received
    assert arrived["payload"]["pickup_by"] == received["pickup_by"], arrived

    world.move_clock(timedelta(days=6))
    gone = await world.requester_in("eduhk", txn, "NotPickedUp")
    assert gone["quota_held"] is True
    assert _events(gone["history"])[-1] == "pickup_expired", gone["history"]

    await world.ship_back_and_check_in("eduhk", "hku", txn)
    done = await world.borrowing("eduhk", txn)
    assert done["quota_held"] is False and done["loan_id"] is None, done
    hku_item = await (await world.staff("hku")).get(f"/api/v1/items/{copies['hku']['id']}")
    assert hku_item["status"] == "AVAILABLE"
    # Nothing else is on its way to the patron.
    await asyncio.sleep(QUIET_SECONDS)
    kinds = [n["kind"] for n in await world.notices(patron)]
    assert kinds == ["ill_arrived"], kinds


# ------------------------------------------------------------------------------ 8


async def test_a_title_eduhk_has_in_place_is_refused_HKALL_03(world: World):
    """EdUHK has an AVAILABLE copy of the title (and so does HKU): its patron's request is
    refused naming HKALL-03, in the dry run and for real, and nothing is requested."""
    book = Book.new("On the Shelf at Home")
    record_id, _ = await world.shelved(book, "eduhk", "hku")
    patron = await world.register("eduhk", "student")

    dry = await world.ask(patron, record_id, "mmw", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["accepted"] is False and "HKALL-03" in dry.json()["rules"], dry.json()
    _refused(await world.ask(patron, record_id, "mmw"), "HKALL-03")
    assert (await patron.party.get("/api/v1/me/ill-requests"))["requests"] == []


# ------------------------------------------------------------------------------ 9


async def test_the_patron_cancels_before_shipping(world: World):
    """The patron cancels while HKBU has not answered: the requester, the broker and HKBU
    all end Cancelled, and the quota is back."""
    book = Book.new("Second Thoughts in Shek Mun")
    record_id, copies = await world.shelved(book, "hkbu")
    patron = await world.register("eduhk", "other_staff")
    txn = await world.request(patron, record_id, "mmw")
    await world.lender_in("hkbu", txn, "RequestReceived")

    asked = await patron.party.post(f"/api/v1/me/ill-requests/{txn}/cancel")
    assert asked["state"] in ("CancelRequested", "Cancelled"), asked
    cancelled = await world.requester_in("eduhk", txn, "Cancelled")
    assert cancelled["quota_held"] is False
    await world.broker_in(txn, "Cancelled")
    await world.lender_in("hkbu", txn, "Cancelled")
    item = await (await world.staff("hkbu")).get(f"/api/v1/items/{copies['hkbu']['id']}")
    assert item["status"] == "AVAILABLE"


# ------------------------------------------------------------------------------ 10


async def test_a_duplicate_request_is_refused(world: World):
    """The same patron asking again for a record while the first request is open is refused
    as a duplicate (problem+json); once it is cancelled the record may be asked for again."""
    book = Book.new("Twice Asked in Tuen Mun")
    record_id, _ = await world.shelved(book, "hkbu")
    patron = await world.register("eduhk", "student")
    txn = await world.request(patron, record_id, "mmw")

    again = await world.ask(patron, record_id, "tko")
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith(PROBLEM_JSON)
    assert again.json()["type"].endswith("duplicate-ill-request"), again.json()
    assert txn in again.json()["detail"]
    mine = (await patron.party.get("/api/v1/me/ill-requests"))["requests"]
    assert [r["transaction_id"] for r in mine] == [txn]

    await world.lender_in("hkbu", txn, "RequestReceived")
    await patron.party.post(f"/api/v1/me/ill-requests/{txn}/cancel")
    await world.requester_in("eduhk", txn, "Cancelled")
    later = await world.ask(patron, record_id, "tko", dry_run=True)
    assert later.status_code == 200 and later.json()["accepted"] is True, later.text
