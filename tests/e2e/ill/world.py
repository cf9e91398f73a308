"""What the ILL scenarios need of a running federation, through its public APIs only: the
lenders' staff add their own uniquely titled copies, the home library registers its own
patrons, and each side's view of a transaction is read (and waited for) by the tour's client
(:class:`deploy.tour.Tour`, :class:`deploy.tour.Party`)."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx

from deploy.tour import Party, Tour
from libs.common.settings import DEV_SECRET
from tests.e2e.ill.conftest import RunningFederation

#: the longest one wait for the federation to move on may take
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2
#: how long "nothing more happens" is watched for (a notice that must not come)
QUIET_SECONDS = 3.0
PASSWORD = "scenario-pass"
T = TypeVar("T")


def isbn13(twelve: str) -> str:
    digits = [int(c) for c in twelve]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return twelve + str(check)


@dataclass(frozen=True)
class Book:
    """A work no other test (or run) has: its title carries a uuid, its ISBN is drawn."""

    title: str
    isbn: str
    author: str = "Scenario, Tester"
    year: int = 2020

    @classmethod
    def new(cls, what: str) -> Book:
        tag = uuid.uuid4()
        return cls(f"{what} {tag.hex}", isbn13("978" + str(tag.int)[:9]))


@dataclass
class Patron:
    library: str
    patron_id: str
    card: str
    category: str
    email: str
    party: Party


class NotYet(AssertionError):
    pass


class Unavailable(Exception):
    """A read the service could not answer just now (a 5xx: the shared database server
    refused a connection, say): asked again until the wait ends."""


@dataclass
class World:
    federation: RunningFederation
    tour: Tour
    http: httpx.AsyncClient

    @property
    def fed(self):
        return self.federation.fed

    # --------------------------------------------------------------- parties and waiting

    async def staff(self, code: str) -> Party:
        return await self.tour.library(code)

    async def broker(self) -> Party:
        return await self.tour.broker()

    async def notifier(self) -> Party:
        if "notifier" not in self.tour.parties:
            url = self.fed.url(self.fed.services["notifier"].port)
            token = await self.tour._token(url, self.fed.operators[0].client_id)
            self.tour.parties["notifier"] = Party("notifier", url, self.http, token)
        return self.tour.parties["notifier"]

    def move_clock(self, delta: timedelta) -> None:
        """Every process of the federation ``delta`` later; the tokens it issued before have
        run out by then, so each party signs in again when next called."""
        self.federation.move_clock(delta)
        self.tour.parties.clear()

    async def until(
        self,
        what: str,
        fetch: Callable[[], Awaitable[T]],
        ok: Callable[[T], bool],
        seconds: float = WAIT_SECONDS,
    ) -> T:
        """``fetch()`` again and again until ``ok`` of it (a short poll, ``seconds`` at most)."""
        deadline = time.monotonic() + seconds
        seen: Any = None
        while True:
            try:
                seen = await fetch()
                if ok(seen):
                    return seen
            except Unavailable as exc:
                seen = exc
            except (KeyError, TypeError, IndexError):
                pass
            if time.monotonic() > deadline:
                raise NotYet(f"{self.federation.way}: {what} did not happen in {seconds}s: {seen}")
            await asyncio.sleep(POLL_SECONDS)

    async def raw_post(self, party: Party, path: str, body: dict | None = None) -> httpx.Response:
        headers = party._headers({"Idempotency-Key": str(uuid.uuid4())})
        return await self.http.post(party.url + path, json=body or {}, headers=headers)

    # --------------------------------------------------------------- copies and the catalogue

    async def add_copy(self, library: str, book: Book) -> dict:
        """A copy of ``book`` on the shelf of ``library`` (its staff add it)."""
        staff = await self.staff(library)
        point = self.fed.library(library).service_points[0].code
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
            },
        )

    async def catalogue(self, path: str, **params: Any) -> httpx.Response:
        url = self.fed.url(self.fed.services["catalog"].port)
        return await self.http.get(url + path, params=params or None)

    async def record_of(self, book: Book, available: dict[str, str]) -> dict:
        """The catalogue's record of ``book`` once it shows each ``{library: item_id}`` of
        ``available`` AVAILABLE."""

        async def fetch() -> dict | None:
            res = await self.catalogue("/api/v1/search", q=book.isbn)
            if res.status_code >= 500:
                raise Unavailable(f"catalogue search: {res.status_code} {res.text}")
            res.raise_for_status()
            found = [r for r in res.json()["results"] if r["title"] == book.title]
            if not found:
                return None
            record = await self.catalogue(f"/api/v1/records/{found[0]['id']}")
            if record.status_code >= 500:
                raise Unavailable(f"catalogue record: {record.status_code} {record.text}")
            record.raise_for_status()
            return record.json()

        def shows_all(record: dict | None) -> bool:
            if record is None:
                return False
            seen = {(h["library"], h["item_id"]): h["status"] for h in record["holdings"]}
            return all(seen.get(k) == "AVAILABLE" for k in available.items())

        record = await self.until(f"the catalogue shows {available}", fetch, shows_all)
        assert record is not None
        return record

    async def shelved(self, book: Book, *libraries: str) -> tuple[int, dict[str, dict]]:
        """A copy of ``book`` at each of ``libraries``, AVAILABLE by the catalogue: the
        record id and each library's item."""
        copies = {code: await self.add_copy(code, book) for code in libraries}
        record = await self.record_of(book, {code: item["id"] for code, item in copies.items()})
        return record["id"], copies

    # --------------------------------------------------------------- patrons

    async def register(self, library: str, category: str) -> Patron:
        """A new patron of ``library`` in ``category``, signed in."""
        staff = await self.staff(library)
        tag = uuid.uuid4().hex[:10].upper()
        card = f"T{tag}"
        email = f"scenario-{tag.lower()}@{library}.example.edu"
        region = "MO" if self.fed.library(library).consortium == "MALA" else "HK"
        made = await staff.post(
            "/api/v1/patrons",
            {
                "category": category,
                "name_en": f"Scenario Reader {tag}",
                "date_of_birth": "1990-05-17",
                "address": {"lines": [f"Flat {tag[:3]}, Test Building"], "region": region},
                "email": email,
                "card_number": card,
                "password": PASSWORD,
            },
        )
        party = await self.tour.patron(library, card, PASSWORD)
        return Patron(library, made["patron"]["patron_id"], card, category, email, party)

    # --------------------------------------------------------------- requests

    async def ask(
        self, patron: Patron, record_id: int, pickup: str, *, dry_run: bool = False
    ) -> httpx.Response:
        path = "/api/v1/me/ill-requests" + ("?dry_run=true" if dry_run else "")
        return await self.raw_post(
            patron.party, path, {"record_id": record_id, "pickup_location": pickup}
        )

    async def request(self, patron: Patron, record_id: int, pickup: str) -> str:
        res = await self.ask(patron, record_id, pickup)
        assert res.status_code == 201, res.text
        return res.json()["transaction_id"]

    async def read(self, party: Party, path: str, **params: Any) -> dict | None:
        """GET ``path``: its body, None for a 404; :class:`Unavailable` for a 5xx."""
        res = await self.http.get(party.url + path, params=params or None, headers=party._headers())
        if res.status_code == 404:
            return None
        if res.status_code >= 500:
            raise Unavailable(f"GET {party.name}{path}: {res.status_code} {res.text}")
        assert res.status_code == 200, f"GET {party.name}{path}: {res.status_code} {res.text}"
        return res.json()

    async def borrowing(self, home: str, txn: str) -> dict:
        found = await self.read(await self.staff(home), f"/api/v1/ill/borrowing/{txn}")
        assert found is not None, f"{home} knows no request {txn}"
        return found

    async def lending(self, lender: str, txn: str) -> dict | None:
        return await self.read(await self.staff(lender), f"/api/v1/ill/lending/{txn}")

    async def brokered(self, txn: str) -> dict | None:
        return await self.read(await self.broker(), f"/api/v1/transactions/{txn}")

    async def requester_in(self, home: str, txn: str, *states: str) -> dict:
        return await self.until(
            f"{home}'s request {txn} in {states}",
            lambda: self.borrowing(home, txn),
            lambda b: b["state"] in states,
        )

    async def lender_in(self, lender: str, txn: str, *states: str) -> dict:
        found = await self.until(
            f"{lender}'s lending {txn} in {states}",
            lambda: self.lending(lender, txn),
            lambda row: row is not None and row["state"] in states,
        )
        assert found is not None
        return found

    async def broker_in(self, txn: str, *states: str, lender: str | None = None) -> dict:
        found = await self.until(
            f"the broker's {txn} in {states} with {lender or 'any lender'}",
            lambda: self.brokered(txn),
            lambda t: (
                t is not None
                and t["state"] in states
                and (lender is None or t["current_lender"] == lender)
            ),
        )
        assert found is not None
        return found

    # --------------------------------------------------------------- notices

    async def notices(self, patron: Patron) -> list[dict]:
        """Every notice the notifier holds for ``patron``, oldest first."""
        notifier = await self.notifier()
        out: list[dict] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"library": patron.library, "limit": 200}
            if cursor is not None:
                params["cursor"] = cursor
            page = await self.read(notifier, "/api/v1/notices", **params)
            assert page is not None
            out += [n for n in page["items"] if n["patron_ref"] == patron.patron_id]
            cursor = page["next_cursor"]
            if cursor is None:
                return sorted(out, key=lambda n: n["id"])

    async def emailed(self, patron: Patron, kind: str) -> dict:
        """The notice of ``kind`` sent to ``patron`` (delivered to the mail server)."""
        found = await self.until(
            f"an {kind} notice e-mailed to {patron.patron_id}",
            lambda: self.notices(patron),
            lambda ns: any(n["kind"] == kind and n["status"] == "sent" for n in ns),
        )
        return next(n for n in found if n["kind"] == kind and n["status"] == "sent")

    # --------------------------------------------------------------- a loan's life

    async def ship(self, lender: str, txn: str) -> dict:
        """The lender's staff accept (when the policy left it to them) and ship the copy."""
        staff = await self.staff(lender)
        lending = await self.lender_in(lender, txn, "RequestReceived", "WillSupply")
        if lending["state"] == "RequestReceived":
            await staff.post(f"/api/v1/ill/lending/{txn}/will-supply")
            lending = await self.lender_in(lender, txn, "WillSupply")
        return await staff.post(f"/api/v1/ill/lending/{txn}/ship", {"barcode": lending["barcode"]})

    async def receive(self, home: str, txn: str, at: str) -> dict:
        await self.requester_in(home, txn, "Shipped")
        staff = await self.staff(home)
        return await staff.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": at})

    async def ship_back_and_check_in(self, home: str, lender: str, txn: str) -> None:
        """The home library ships the item back and the lender checks it in: every side
        ends the loan complete."""
        await (await self.staff(home)).post(f"/api/v1/ill/borrowing/{txn}/ship-back")
        await self.lender_in(lender, txn, "ReturnShipped")
        await (await self.staff(lender)).post(f"/api/v1/ill/lending/{txn}/check-in")
        await self.requester_in(home, txn, "Completed")
        await self.broker_in(txn, "LoanCompleted")
        await self.lender_in(lender, txn, "LoanCompleted")

    async def return_at(self, home: str, txn: str, service_point: str) -> dict:
        borrowing = await self.borrowing(home, txn)
        return await (await self.staff(home)).post(
            "/api/v1/returns", {"item_id": borrowing["item_id"], "service_point": service_point}
        )

    async def finish(self, home: str, lender: str, txn: str, pickup: str) -> None:
        """The rest of a loan the lender has accepted: shipped, received, collected, returned,
        shipped back and checked in."""
        await self.ship(lender, txn)
        await self.receive(home, txn, pickup)
        await (await self.staff(home)).post(f"/api/v1/ill/borrowing/{txn}/checkout")
        await self.return_at(home, txn, pickup)
        await self.ship_back_and_check_in(home, lender, txn)


def new_world(federation: RunningFederation, http: httpx.AsyncClient) -> World:
    return World(federation, Tour(federation.fed, DEV_SECRET, http, io.StringIO()), http)
