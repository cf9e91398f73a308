"""The requester's side of inter-library loans, on the real PostgreSQL: the home library
(EdUHK for HKALL, KWNC for MALA) driven through its API, the union catalogue's real app on
its own database (loaded through its API, by each library with its own holdings), and the
broker's messages fed as the broker sends them: envelopes from "requests" into the
library's queue through the in-process broker, taken by the library's own consumer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import uuid
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from deploy.queues import federation_queues
from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import ManualClock
from libs.common.contracts.ill import IllRouting, IllSupplierMessage, LoanTerms
from libs.common.db import drop_database, ensure_database, make_engine, pg_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import DIRECT, circulation_address
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.tables import metadata as catalog_metadata
from services.circulation.adapters.tables import ill_borrowing
from services.circulation.app import create_app
from services.circulation.runtime import build_runtime
from tests.integration.catalog.http import auth, catalogue_client

from .conftest import CHEAP_HASHER, Desk, hkt

pytestmark = pytest.mark.pg
PROBLEM = "application/problem+json"
_n = itertools.count(random.randint(10_000, 90_000))


def isbn() -> str:
    body = f"978{next(_n):09d}"
    total = sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _pg(name: str) -> str:
    url = pg_url(f"illfed_{name}_{uuid.uuid4().hex[:10]}")
    try:
        asyncio.run(ensure_database(url))
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    return url


@pytest.fixture(scope="module")
def circulation_urls():
    urls = {lib: _pg(f"circ_{lib}") for lib in ("eduhk", "kwnc")}
    for url in urls.values():
        asyncio.run(upgrade("circulation", url))
    yield urls
    for url in urls.values():
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
def catalogue_url():
    url = _pg("catalog")

    async def create() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(catalog_metadata.create_all)
        await engine.dispose()

    asyncio.run(create())
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def catalogue(catalogue_url):
    async with catalogue_client(catalogue_url) as client:
        yield client


@pytest.fixture
def clock():
    return ManualClock(hkt(2026, 12, 1))


class Home(Desk):
    """The home library: its desk, the broker that feeds its queue, the catalogue."""

    broker: MemoryBroker
    catalogue: httpx.AsyncClient
    seq: dict[str, int]

    async def feed(self, payload, *, message_id: str | None = None) -> None:
        """Send ``payload`` as the broker does and wait until the library has taken it."""
        env = make_envelope(
            payload,
            sender="requests",
            recipient=circulation_address(self.library),
            correlation_id=payload.transaction_id,
            clock=self.clock,
        )
        if message_id is not None:
            env = env.model_copy(update={"message_id": message_id})
        await self.broker.handle("requests").publish(
            DIRECT,
            circulation_address(self.library),
            env.model_dump_json().encode(),
            message_id=env.message_id,
            correlation_id=env.correlation_id,
        )
        queue = f"{circulation_address(self.library)}.inbox"
        for _ in range(500):
            if self.broker.depth(queue) == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the library did not take the message")

    def next_seq(self, txn: str) -> int:
        self.seq[txn] = self.seq.get(txn, 0) + 1
        return self.seq[txn]

    def routing(self, txn: str, **fields) -> IllRouting:
        return IllRouting(transaction_id=txn, seq=self.next_seq(txn), **fields)

    def supplier(self, txn: str, status: str, reason: str = "StatusChange", **fields):
        return IllSupplierMessage(
            transaction_id=txn,
            seq=self.next_seq(txn),
            supplier=fields.pop("supplier", "cityu"),
            status=status,  # type: ignore[arg-type]
            reason=reason,  # type: ignore[arg-type]
            occurred_at=self.clock.now(),
            **fields,
        )

    def loaned(self, txn: str, due: date, barcode: str) -> IllSupplierMessage:
        terms = LoanTerms(
            due_date=due,
            loan_days=(due - self.clock.now().date()).days,
            renewal_needs_approval=True,
            currency="HKD",
            fine_per_day_minor=200,
            fine_cap_minor=3000,
        )
        return self.supplier(
            txn,
            "Loaned",
            item_id=f"cityu-{barcode}",
            barcode=barcode,
            due_date=due,
            loan_terms=terms,
        )

    async def catalogued(
        self,
        *holdings: tuple[str, str],
        material_type: str = "book",
        number: str | None = None,
        home_item: str | None = None,
    ) -> int:
        """A record held by the given (library, status) pairs, each loaded by its own
        library through the catalogue's API (the home library's holding under its item id
        ``home_item``); returns the record id."""
        number = number or isbn()
        for library, status in holdings:
            body = [
                {
                    "id": f"{library}-{number}",
                    "title": f"香港歷史 {number}",
                    "authors": ["劉智鵬"],
                    "isbn": number,
                    "material_type": material_type,
                    "holdings": [
                        {
                            "library": library,
                            "item_id": home_item
                            if library == self.library and home_item
                            else f"{library}-{number}",
                            "status": status,
                            "material_type": material_type,
                        }
                    ],
                }
            ]
            res = await self.catalogue.post(
                "/api/v1/records",
                content=json.dumps(body),
                headers={
                    **auth(self.catalogue, "library", library),
                    "Content-Type": "application/json",
                },
            )
            assert res.status_code == 200 and not res.json()["rejected"], res.text
        found = (await self.catalogue.get("/api/v1/search", params={"q": number})).json()
        assert found["total"] == 1, found
        return found["results"][0]["id"]

    async def patron(self, category: str = "student") -> tuple[dict, dict[str, str]]:
        p = await self.register(
            category=category, name_en="Chan Siu Ming", email="siu.ming@example.hk"
        )
        res = await self.sign_in(p["card_number"], "s3cret-pass")
        assert res.status_code == 201, res.text
        p["patron_id"] = p["patron"]["patron_id"]
        return p, {"Authorization": f"Bearer {res.json()['access_token']}"}

    async def ask(self, token, record_id: int, pickup: str = "mmw", **query) -> httpx.Response:
        return await self.client.post(
            "/api/v1/me/ill-requests",
            json={"record_id": record_id, "pickup_location": pickup},
            headers=token,
            params=query,
        )

    async def row(self, txn: str) -> dict:
        async with self.runtime.engine.connect() as conn:
            r = (
                await conn.execute(
                    select(ill_borrowing).where(ill_borrowing.c.transaction_id == txn)
                )
            ).one()
        return dict(r._mapping)

    async def to_broker(self, txn: str) -> list[dict]:
        return [
            e
            for e in await self.messages()
            if e["correlation_id"] == txn and e["recipient"] == "requests"
        ]


@contextlib.asynccontextmanager
async def open_home(
    library: str,
    url: str,
    clock: ManualClock,
    catalogue: httpx.AsyncClient,
    *,
    catalogue_client_=None,
):
    fed = default_federation()
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    client = catalogue_client_ or CatalogueClient(
        "http://catalog.test", transport=httpx.ASGITransport(app=catalogue.app)
    )
    rt = build_runtime(
        library, url, broker.handle(library), clock, hasher=CHEAP_HASHER, catalogue=client
    )
    app = create_app(rt, fed, DEV_SECRET)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{library}.test"
        ) as c:
            home = Home(c, rt, clock)
            home.broker, home.catalogue, home.seq = broker, catalogue, {}
            await home.login_staff()
            for consumer in rt.consumers:
                await consumer.start()
            try:
                yield home
            finally:
                for consumer in rt.consumers:
                    await consumer.stop()
    finally:
        await rt.engine.dispose()


@pytest.fixture
async def eduhk(circulation_urls, clock, catalogue):
    async with open_home("eduhk", circulation_urls["eduhk"], clock, catalogue) as home:
        yield home


@pytest.fixture
async def kwnc(circulation_urls, clock, catalogue):
    async with open_home("kwnc", circulation_urls["kwnc"], clock, catalogue) as home:
        yield home


def assert_refused(res: httpx.Response, *rules: str, status: int = 409) -> dict:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    doc = res.json()
    assert doc["rules"] == list(rules), doc
    return doc


# ------------------------------------------------------------------------------ requesting


async def test_an_hkall_student_requests_and_the_quota_is_held_HKALL_08(eduhk):
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    patron, token = await eduhk.patron()
    res = await eduhk.client.post(
        "/api/v1/me/ill-requests",
        json={"record_id": record_id, "pickup_location": "tko"},
        headers={**token, "Idempotency-Key": "req-1"},
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["state"], body["quota_held"]) == ("Requested", True)
    txn = body["transaction_id"]
    again = await eduhk.client.post(
        "/api/v1/me/ill-requests",
        json={"record_id": record_id, "pickup_location": "tko"},
        headers={**token, "Idempotency-Key": "req-1"},
    )
    assert again.json()["transaction_id"] == txn
    sent = await eduhk.to_broker(txn)
    assert [e["type"] for e in sent] == ["ill.request"]
    request = sent[0]["payload"]
    assert request["record"]["record_id"] == record_id and request["pickup_location"] == "tko"
    assert request["patron"]["category"] == "student" and request["patron"]["consortium"] == "HKALL"
    # Privacy: a pseudonym, never the patron's id, name, card, e-mail or phone.
    text = json.dumps(request)
    for secret in (
        patron["patron_id"],
        "Chan Siu Ming",
        "siu.ming@example.hk",
        patron["card_number"],
        "9123",
    ):
        assert secret not in text
    mine = (await eduhk.client.get("/api/v1/me/ill-requests", headers=token)).json()["requests"]
    assert [r["transaction_id"] for r in mine] == [txn]
    one = (await eduhk.client.get(f"/api/v1/me/ill-requests/{txn}", headers=token)).json()
    assert [(h["from_state"], h["to_state"]) for h in one["history"]] == [(None, "Requested")]


async def test_a_retry_sent_while_the_first_request_still_works_gets_its_answer(eduhk):
    """A client whose request timed out sends it again with the same Idempotency-Key while
    the first is still being placed: both are answered with the one request made, never
    with "you already have an open request" for the client's own first attempt."""
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    _, token = await eduhk.patron()

    async def send() -> httpx.Response:
        return await eduhk.client.post(
            "/api/v1/me/ill-requests",
            json={"record_id": record_id, "pickup_location": "tko"},
            headers={**token, "Idempotency-Key": "twin-1"},
        )

    first, retry = await asyncio.gather(send(), send())
    assert (first.status_code, retry.status_code) == (201, 201), retry.text
    assert first.json()["transaction_id"] == retry.json()["transaction_id"]
    mine = (await eduhk.client.get("/api/v1/me/ill-requests", headers=token)).json()
    assert len(mine["requests"]) == 1


async def test_dry_run_says_whether_it_would_be_accepted_and_creates_nothing(eduhk):
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    _, token = await eduhk.patron()
    yes = await eduhk.ask(token, record_id, dry_run="true")
    assert yes.status_code == 200 and yes.json()["accepted"] is True
    assert yes.json()["lenders"] == ["cityu"]
    nothing = await eduhk.catalogued(("cityu", "ON_LOAN"))
    no = await eduhk.ask(token, nothing, dry_run="true")
    assert no.status_code == 200 and no.json()["accepted"] is False
    assert no.json()["rules"] == ["HKALL-02"]
    assert (await eduhk.client.get("/api/v1/me/ill-requests", headers=token)).json()[
        "requests"
    ] == []


async def test_HKALL_02_nothing_available_elsewhere_and_HKALL_01_books_only(eduhk):
    _, token = await eduhk.patron()
    on_loan = await eduhk.catalogued(("cityu", "ON_LOAN"))
    doc = assert_refused(await eduhk.ask(token, on_loan), "HKALL-02")
    assert "(HKALL-02)" in doc["detail"]
    serial = await eduhk.catalogued(("cityu", "AVAILABLE"), material_type="serial")
    res = await eduhk.ask(token, serial)
    assert res.status_code == 409 and set(res.json()["rules"]) == {"HKALL-01", "HKALL-02"}


async def test_HKALL_03_refused_while_the_home_library_has_a_copy_in_place(eduhk):
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    found = (await eduhk.catalogue.get(f"/api/v1/records/{record_id}")).json()
    # The home library's own item, known to its items table (the catalogue does not list it).
    await eduhk.add_item(isbn=found["isbns"][0], service_point="mmw", title=found["title"])
    _, token = await eduhk.patron()
    doc = assert_refused(await eduhk.ask(token, record_id), "HKALL-03")
    assert "mmw" in doc["detail"]


async def test_the_home_librarys_own_items_are_the_authority_for_HKALL_03(eduhk):
    # The home copy is lent at the counter; the catalogue's mirror still says AVAILABLE (its
    # item.changed has not reached it). The home library's own items table decides.
    number = isbn()
    own = await eduhk.add_item(isbn=number, service_point="mmw")
    record_id = await eduhk.catalogued(
        ("cityu", "AVAILABLE"), ("eduhk", "AVAILABLE"), number=number, home_item=own["id"]
    )
    holder, _ = await eduhk.patron()
    assert (await eduhk.checkout(holder["card_number"], own)).status_code == 201
    found = (await eduhk.catalogue.get(f"/api/v1/records/{record_id}")).json()
    assert {"library": "eduhk", "status": "AVAILABLE"}.items() <= next(
        h for h in found["holdings"] if h["item_id"] == own["id"]
    ).items()
    _, token = await eduhk.patron()
    assert (await eduhk.ask(token, record_id)).status_code == 201


async def test_a_second_request_for_the_same_record_is_a_duplicate(eduhk):
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    _, token = await eduhk.patron()
    assert (await eduhk.ask(token, record_id)).status_code == 201
    dup = await eduhk.ask(token, record_id)
    assert dup.status_code == 409 and dup.json()["type"].endswith("duplicate-ill-request")


async def test_HKALL_08_requests_in_flight_hold_the_quota_until_given_back(eduhk):
    _, token = await eduhk.patron()
    records = [await eduhk.catalogued(("hku", "AVAILABLE")) for _ in range(16)]
    made = []
    for record_id in records[:15]:
        res = await eduhk.ask(token, record_id)
        assert res.status_code == 201, res.text
        made.append(res.json()["transaction_id"])
    doc = assert_refused(await eduhk.ask(token, records[15]), "HKALL-08")
    assert "15" in doc["detail"]
    # Unfilled gives one back: the sixteenth may now be asked for.
    await eduhk.feed(eduhk.routing(made[0], end_of_rota=True))
    assert (await eduhk.ask(token, records[15])).status_code == 201


async def test_HKALL_09_a_student_with_15_requests_borrows_35_home_items_not_36(eduhk):
    patron, token = await eduhk.patron()
    for _ in range(15):
        res = await eduhk.ask(token, await eduhk.catalogued(("hku", "AVAILABLE")))
        assert res.status_code == 201, res.text
    home = [await eduhk.add_item(service_point="mmw") for _ in range(36)]
    for item in home[:35]:
        # HKALL-08's 15 are all taken by the requests: a home item is not one of them
        res = await eduhk.checkout(patron["card_number"], item)
        assert res.status_code == 201, res.text
    # HKALL-09: 15 requests and 35 home loans fill the home quota of 50
    doc = assert_refused(await eduhk.checkout(patron["card_number"], home[35]), "HKALL-09")
    assert "51" in doc["detail"]
    account = (await eduhk.get(f"/api/v1/patrons/{patron['patron_id']}")).json()
    assert (account["quota"]["rule"], account["quota"]["items"]) == ("HKALL-08", 15)


async def test_MALA_02_a_third_item_from_the_one_lender_is_refused(kwnc):
    _, token = await kwnc.patron()
    records = [await kwnc.catalogued(("um", "AVAILABLE")) for _ in range(3)]
    for record_id in records[:2]:
        res = await kwnc.ask(token, record_id, pickup="main")
        assert res.status_code == 201, res.text
    doc = assert_refused(await kwnc.ask(token, records[2], pickup="main"), "MALA-02")
    assert (
        "2 items" in doc["detail"]
        or "2 allowed" in doc["detail"]
        or "most allowed" in doc["detail"]
    )


async def test_staff_request_by_card_and_the_list_by_state(eduhk):
    record_id = await eduhk.catalogued(("hku", "AVAILABLE"))
    patron, _ = await eduhk.patron()
    res = await eduhk.post(
        "/api/v1/ill/borrowing",
        {"card_number": patron["card_number"], "record_id": record_id, "pickup_location": "mmw"},
        **{"Idempotency-Key": "staff-1"},
    )
    assert res.status_code == 201, res.text
    txn = res.json()["transaction_id"]
    listed = (await eduhk.get("/api/v1/ill/borrowing?state=Requested&limit=100")).json()
    assert txn in [r["transaction_id"] for r in listed["requests"]]
    assert (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"][0]["actor"] == (
        "staff:eduhk"
    )


async def test_catalogue_away_is_503_and_nothing_is_created(circulation_urls, clock, catalogue):
    away = CatalogueClient("http://127.0.0.1:1", timeout=1.0)
    async with open_home(
        "eduhk", circulation_urls["eduhk"], clock, catalogue, catalogue_client_=away
    ) as home:
        _, token = await home.patron()
        res = await home.ask(token, 1)
        assert res.status_code == 503 and res.headers["content-type"].startswith(PROBLEM)
        assert "try again" in res.json()["detail"]
        assert (await home.client.get("/api/v1/me/ill-requests", headers=token)).json()[
            "requests"
        ] == []


# ----------------------------------------------------------------------- the broker's answers


async def requested(home: Home, *holdings) -> tuple[str, dict, dict]:
    record_id = await home.catalogued(*(holdings or (("cityu", "AVAILABLE"),)))
    patron, token = await home.patron()
    res = await home.ask(token, record_id)
    assert res.status_code == 201, res.text
    return res.json()["transaction_id"], patron, token


async def test_unfilled_gives_the_quota_back_and_tells_the_patron(eduhk):
    txn, patron, _ = await requested(eduhk)
    await eduhk.feed(eduhk.routing(txn, lender="cityu"))
    assert (await eduhk.row(txn))["state"] == "ExpectToSupply"
    await eduhk.feed(eduhk.routing(txn, end_of_rota=True))
    row = await eduhk.row(txn)
    assert (row["state"], row["quota_held"]) == ("Unfilled", False)
    assert [n["kind"] for n in await eduhk.notices(patron["patron_id"])] == ["ill_unfilled"]


async def test_a_desk_waits_for_the_lenders_item_instead_of_polling(eduhk):
    """``GET …?until=Shipped&until=AwaitingPickup&wait=15`` is answered as soon as the message
    that ships the item is taken (the commit wakes it: its periodic re-read is off here), not
    at the end of its wait; a state that does not come is answered with the state then once
    the wait is over; a state a request cannot have, or a wait over 20 s, is a 422."""
    eduhk.runtime.changes.recheck = 60.0
    txn, _, _ = await requested(eduhk)
    await eduhk.feed(eduhk.routing(txn, lender="cityu"))
    await eduhk.feed(eduhk.supplier(txn, "WillSupply", "RequestResponse"))
    path = f"/api/v1/ill/borrowing/{txn}"
    loop = asyncio.get_running_loop()

    async def get(**params):
        return await eduhk.client.get(path, params=params, headers=eduhk.staff)

    started = loop.time()
    waiting = asyncio.create_task(get(until=["Shipped", "AwaitingPickup"], wait=15))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # still WillSupply: it waits
    await eduhk.feed(eduhk.loaned(txn, date(2026, 12, 31), eduhk.unique("CU")))
    res = await asyncio.wait_for(waiting, 10)
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "Shipped"
    assert [h["to_state"] for h in res.json()["history"]][-1] == "Shipped"
    assert loop.time() - started < 10  # woken by the step, long before its 15 s

    started = loop.time()
    res = await get(until="CheckedOut", wait=0.5)
    assert (res.status_code, res.json()["state"]) == (200, "Shipped")
    assert loop.time() - started >= 0.5
    for bad in ({"until": "Lost in space", "wait": 1}, {"until": "Shipped", "wait": 21}):
        res = await get(**bad)
        assert res.status_code == 422, res.text
        assert res.headers["content-type"].startswith(PROBLEM)


async def test_the_whole_way_to_completed_with_the_quota_back(eduhk):
    txn, patron, token = await requested(eduhk)
    barcode = eduhk.unique("CU")
    lender_due = date(2026, 12, 31)  # the lender's terms, not the home policy's 15 days
    await eduhk.feed(eduhk.routing(txn, lender="cityu"))
    await eduhk.feed(eduhk.supplier(txn, "WillSupply", "RequestResponse"))
    await eduhk.feed(eduhk.loaned(txn, lender_due, barcode))
    assert (await eduhk.row(txn))["state"] == "Shipped"

    # HKALL-05/06: received at the pickup point, the patron e-mailed, 5 days to collect.
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": "mmw"})
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "AwaitingPickup"
    assert res.json()["pickup_by"] == "2026-12-06"
    arrived = [n for n in await eduhk.notices(patron["patron_id"]) if n["kind"] == "ill_arrived"]
    assert arrived and arrived[0]["pickup_by"] == "2026-12-06"
    assert arrived[0]["pickup_location"] == "MMW Library circulation counter"
    # The visiting item is never announced to the catalogue as an item of this library.
    item_id = res.json()["item_id"]
    assert not [
        e for e in await eduhk.messages("item.changed") if e["payload"]["item_id"] == item_id
    ]

    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/checkout")
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "CheckedOut"
    loans = (await eduhk.client.get("/api/v1/me/loans", headers=token)).json()["loans"]
    assert [(x["barcode"], x["due_date"]) for x in loans] == [(barcode, "2026-12-31")]

    # HKALL-07: returned at the other service point of the home library.
    eduhk.clock.advance(timedelta(days=10))
    await eduhk.login_staff()
    ret = await eduhk.post("/api/v1/returns", {"barcode": barcode, "service_point": "tko"})
    assert ret.status_code == 201, ret.text
    assert (await eduhk.row(txn))["state"] == "Returned"
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/ship-back")
    assert res.json()["state"] == "ShippedReturn"
    actions = [e["payload"].get("action") for e in await eduhk.to_broker(txn)]
    assert actions == [None, "Received", "CheckedOut", "ShippedReturn"]  # after ill.request
    assert (await eduhk.row(txn))["quota_held"] is True
    await eduhk.feed(eduhk.supplier(txn, "LoanCompleted"))
    row = await eduhk.row(txn)
    assert (row["state"], row["quota_held"]) == ("Completed", False)
    history = (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"]
    assert [h["to_state"] for h in history] == [
        "Requested",
        "ExpectToSupply",
        "WillSupply",
        "Shipped",
        "AwaitingPickup",
        "CheckedOut",
        "Returned",
        "ShippedReturn",
        "Completed",
    ]
    assert any(h["event"] == "returned@tko" for h in history)
    assert all(h["message_id"] for h in history if h["actor"] == "requests")


async def test_the_lenders_item_leaves_for_good_and_is_never_listed_as_the_librarys_own(eduhk):
    txn, _, _ = await requested(eduhk)
    barcode = eduhk.unique("CU")
    await eduhk.feed(eduhk.routing(txn, lender="cityu"))
    await eduhk.feed(eduhk.loaned(txn, date(2026, 12, 31), barcode))
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": "mmw"})
    item_id = res.json()["item_id"]
    own = await eduhk.add_item(service_point="mmw")

    async def listed() -> set[str]:
        ids, cursor = set(), ""
        while cursor is not None:
            page = (await eduhk.get(f"/api/v1/items?limit=200&cursor={cursor}")).json()
            ids |= {i["id"] for i in page["items"]}
            cursor = page["next_cursor"]
        return ids

    # Visiting, not one of the library's items, though staff can still look it up.
    assert own["id"] in await listed() and item_id not in await listed()
    assert (await eduhk.get(f"/api/v1/items/{item_id}")).json()["status"] == "ON_HOLD_SHELF"
    eduhk.clock.set(hkt(2026, 12, 7, 9))  # HKALL-06: not picked up in 5 days
    assert await job(eduhk, "ill-pickup-expiry").run() == 1
    await eduhk.login_staff()
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/ship-back")
    assert res.json()["state"] == "ShippedReturn", res.text
    assert (await eduhk.get(f"/api/v1/items/{item_id}")).json()["status"] == "IN_TRANSIT"
    await eduhk.feed(eduhk.supplier(txn, "LoanCompleted"))
    assert (await eduhk.row(txn))["state"] == "Completed"
    # Back with its lender: not left IN_TRANSIT here forever.
    assert (await eduhk.get(f"/api/v1/items/{item_id}")).json()["status"] == "WITHDRAWN"
    assert item_id not in await listed()


async def shipped(home: Home) -> tuple[str, dict, str]:
    txn, patron, _ = await requested(home)
    barcode = home.unique("CU")
    await home.feed(home.routing(txn, lender="cityu"))
    await home.feed(home.supplier(txn, "WillSupply", "RequestResponse"))
    await home.feed(home.loaned(txn, date(2026, 12, 31), barcode))
    return txn, patron, barcode


def job(home: Home, name: str):
    return next(j for j in home.runtime.jobs if j.name == name)


async def test_HKALL_06_not_picked_up_in_5_days_goes_back_without_a_notice(eduhk):
    txn, patron, _ = await shipped(eduhk)
    await eduhk.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": "tko"})
    before = await eduhk.notices(patron["patron_id"])
    eduhk.clock.set(hkt(2026, 12, 6, 20))  # the last pickup day: still waiting
    assert await job(eduhk, "ill-pickup-expiry").run() == 0
    eduhk.clock.set(hkt(2026, 12, 7, 9))
    assert await job(eduhk, "ill-pickup-expiry").run() == 1
    assert (await eduhk.row(txn))["state"] == "NotPickedUp"
    assert await eduhk.notices(patron["patron_id"]) == before  # no notice (HKALL-06)
    await eduhk.login_staff()
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/ship-back")
    assert res.json()["state"] == "ShippedReturn"


async def test_cancel_before_shipping_gives_the_quota_back(eduhk):
    txn, patron, token = await requested(eduhk)
    await eduhk.feed(eduhk.routing(txn, lender="cityu"))
    res = await eduhk.client.post(f"/api/v1/me/ill-requests/{txn}/cancel", headers=token)
    assert res.status_code == 200 and res.json()["state"] == "CancelRequested"
    assert [e["payload"].get("action") for e in await eduhk.to_broker(txn)][-1] == "Cancel"
    await eduhk.feed(eduhk.supplier(txn, "Cancelled", "CancelResponse", answer="yes"))
    row = await eduhk.row(txn)
    assert (row["state"], row["quota_held"]) == ("Cancelled", False)
    assert [n["kind"] for n in await eduhk.notices(patron["patron_id"])] == ["ill_cancelled"]


async def test_cancel_after_shipping_is_refused(eduhk):
    txn, _, _ = await shipped(eduhk)
    res = await eduhk.post(f"/api/v1/ill/borrowing/{txn}/cancel")
    assert res.status_code == 409 and "before the lender ships" in res.json()["detail"]


async def test_a_duplicate_and_a_reordered_pair_leave_the_same_state(eduhk):
    txn, _, _ = await requested(eduhk)
    first = eduhk.routing(txn, lender="cityu")
    second = eduhk.supplier(txn, "WillSupply", "RequestResponse")
    await eduhk.feed(second)  # early: parked
    assert (await eduhk.row(txn))["state"] == "Requested"
    await eduhk.feed(first)  # the gap closes: both applied in order
    assert (await eduhk.row(txn))["state"] == "WillSupply"
    await eduhk.feed(second.model_copy())  # a resend under a new message id: ignored
    await eduhk.feed(first)
    assert (await eduhk.row(txn))["state"] == "WillSupply"
    history = (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"]
    assert [h["to_state"] for h in history] == ["Requested", "ExpectToSupply", "WillSupply"]


async def test_a_message_id_seen_before_is_ignored_even_with_a_new_seq(eduhk):
    # The inbox, not only seq: the message id claimed with the first statement of the step
    # (the sequence row's lock) stops a second message under the same id.
    txn, _, _ = await requested(eduhk)
    await eduhk.feed(eduhk.routing(txn, lender="cityu"), message_id="broker-m-1")
    assert (await eduhk.row(txn))["state"] == "ExpectToSupply"
    await eduhk.feed(eduhk.supplier(txn, "WillSupply", "RequestResponse"), message_id="broker-m-1")
    assert (await eduhk.row(txn))["state"] == "ExpectToSupply"
    await eduhk.feed(eduhk.supplier(txn, "WillSupply", "RequestResponse"))  # seq 2 was not used
    assert (await eduhk.row(txn))["state"] == "ExpectToSupply"  # parked: seq 2 never came
    history = (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"]
    assert [h["to_state"] for h in history] == ["Requested", "ExpectToSupply"]


async def test_a_refusal_redelivered_is_answered_once(eduhk):
    # Refused before its turn (no such request here): what the refusal wrote is undone when
    # the inbox then finds the message processed before.
    txn = f"T-{uuid.uuid4().hex[:12]}"
    message = eduhk.supplier(txn, "WillSupply", "RequestResponse")
    await eduhk.feed(message, message_id="broker-m-2")
    await eduhk.feed(message, message_id="broker-m-2")
    errors = [e for e in await eduhk.to_broker(txn) if e["type"] == "ill.error"]
    assert len(errors) == 1 and errors[0]["payload"]["refused_message_id"] == "broker-m-2"


async def test_a_message_illegal_in_the_state_is_refused_and_answered_with_an_error(eduhk):
    txn, _, _ = await requested(eduhk)
    await eduhk.feed(eduhk.supplier(txn, "LoanCompleted"))
    assert (await eduhk.row(txn))["state"] == "Requested"
    errors = [e for e in await eduhk.to_broker(txn) if e["type"] == "ill.error"]
    assert errors and "LoanCompleted" in errors[0]["payload"]["reason"]
    history = (await eduhk.get(f"/api/v1/ill/borrowing/{txn}")).json()["history"]
    assert history[-1]["refused"] and history[-1]["to_state"] is None


async def test_pickup_only_at_a_home_service_point_and_only_my_own_requests(eduhk):
    record_id = await eduhk.catalogued(("cityu", "AVAILABLE"))
    _, token = await eduhk.patron()
    wrong = await eduhk.ask(token, record_id, pickup="main")  # CityU's, not EdUHK's
    assert wrong.status_code == 422 and wrong.headers["content-type"].startswith(PROBLEM)
    txn = (await eduhk.ask(token, record_id)).json()["transaction_id"]
    _, other = await eduhk.patron()
    assert (
        await eduhk.client.get(f"/api/v1/me/ill-requests/{txn}", headers=other)
    ).status_code == 404
    cancel = await eduhk.client.post(f"/api/v1/me/ill-requests/{txn}/cancel", headers=other)
    assert cancel.status_code == 404
