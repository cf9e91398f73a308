"""Driving whole inter-library loans through the public APIs of an :class:`IllFederation`
while its processes are killed and its connections dropped.

Staff at each home library register patrons (``POST /api/v1/patrons``); staff at each lender
add uniquely titled books (``POST /api/v1/items``), which reach the union catalogue through
``item.changed``. Each loan then goes the whole way, as staff and the patron would take it:
request (staff for the patron) → the lender's policy holds the copy at once (WillSupply) →
the lender ships → the home library receives it → the patron checks it out → returns it →
the home library ships it back → the lender checks it in → Completed at home, LoanCompleted at
the lender and at the broker.

Calls ride out a process that is down or restarting (connection refused, timeouts, 5xx):
a POST that creates something is sent with an ``Idempotency-Key`` and sent again with the
same key; a step on a loan (receive, checkout, ship, …) is sent again only after reading the
loan's state shows the step was not taken, so that nothing is ever done twice by the driver.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploy.tour import Party, Tour
from libs.common.settings import DEV_SECRET
from tests.faults.ill_helpers import SERVICE_POINT, IllFederation

#: HKALL-08 / MALA-02: a student holds at most 15 HKALL items, and 2 from one MALA lender;
#: two loans per patron stays inside both
LOANS_PER_PATRON = 2
#: seconds between two looks at a loan's state: first, and at most
POLL_FIRST, POLL_MAX = 0.2, 1.5
#: seconds each look may wait at the service for the state looked for (``?until=…&wait=``)
WAIT = 10.0
#: transport-level failures of a process that is down or restarting
DOWN = (httpx.TransportError,)


class LoanStuck(RuntimeError):
    pass


@dataclass
class Stats:
    calls: int = 0
    failed_calls: int = 0  # refused connections, timeouts, 5xx: retried
    by_status: Counter = field(default_factory=Counter)
    steps: int = 0  # loan steps taken (the fault schedule keys on them)
    second_tries: Counter = field(default_factory=Counter)  # step -> times found already done


class Api:
    """One service's API, called with a token, through faults."""

    def __init__(self, party: Party, stats: Stats, timeout: float = 30.0) -> None:
        self.name = party.name
        self.url = party.url
        self.token = party.token
        self.http = party.http
        self.stats = stats
        self.timeout = timeout

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    async def once(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        key: str | None = None,
    ) -> httpx.Response | None:
        """One call; None when the service was down or failed (5xx)."""
        self.stats.calls += 1
        try:
            res = await self.http.request(
                method,
                self.url + path,
                json=json,
                params=params,
                headers=self._headers(key),
                timeout=self.timeout,
            )
        except DOWN as exc:
            self.stats.failed_calls += 1
            self.stats.by_status[type(exc).__name__] += 1
            return None
        self.stats.by_status[res.status_code] += 1
        if res.status_code >= 500:
            self.stats.failed_calls += 1
            return None
        return res

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        key: str | None = None,
        deadline: float = 180.0,
    ) -> httpx.Response:
        """Sent until the service answers below 500 (safe for GETs and for POSTs with an
        ``Idempotency-Key``: the retry carries the same key)."""
        end = time.monotonic() + deadline
        while True:
            res = await self.once(method, path, json=json, params=params, key=key)
            if res is not None:
                return res
            if time.monotonic() > end:
                raise LoanStuck(f"{method} {self.name}{path} kept failing for {deadline:.0f}s")
            await asyncio.sleep(0.3)

    async def state(
        self, path: str, until: set[str] | None = None, wait: float = 0.0
    ) -> str | None:
        """The ``state`` of what ``path`` shows; None while it is not known there (404).
        With ``until`` the service answers once the state is one of them or ``wait`` seconds
        are over, whichever comes first."""
        params = {"until": sorted(until), "wait": wait} if until and wait else None
        res = await self.call("GET", path, params=params)
        if res.status_code == 404:
            return None
        if res.status_code != 200:
            raise LoanStuck(f"GET {self.name}{path}: {res.status_code} {res.text}")
        return res.json()["state"]


@dataclass
class Loan:
    n: int
    home: str
    lender: str
    patron_id: str
    item_id: str
    barcode: str
    record_id: int
    txn: str | None = None
    completed: bool = False
    error: str | None = None
    seconds: float = 0.0
    last_step: str = ""

    @property
    def consortium_key(self) -> str:
        return f"{self.home}->{self.lender}"


@dataclass
class Driver:
    tf: IllFederation
    http: httpx.AsyncClient
    stats: Stats = field(default_factory=Stats)
    libs: dict[str, Api] = field(default_factory=dict)
    broker: Api | None = None
    catalog: Api | None = None
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())

    @classmethod
    async def signed_in(cls, tf: IllFederation, http: httpx.AsyncClient) -> Driver:
        """Tokens for every library's staff and the consortium's operator (the tour's)."""
        d = cls(tf, http)
        tour = Tour(tf.fed, DEV_SECRET, http)
        for code in tf.libraries:
            d.libs[code] = Api(await tour.library(code), d.stats)
        d.broker = Api(await tour.broker(), d.stats)
        d.catalog = Api(Party("catalog", tf.catalog.url, http), d.stats)
        return d

    # ------------------------------------------------------------------------ preparing

    def plan(self, loans: int) -> list[tuple[str, str]]:
        """(home, lender) for each loan: half HKALL, half MALA, each home in turn."""
        homes = {"HKALL": ["hku", "eduhk"], "MALA": ["um", "kwnc"]}
        out = []
        for n in range(loans):
            members = homes["HKALL" if n % 2 == 0 else "MALA"]
            home = members[(n // 2) % 2]
            out.append((home, self.tf.partner(home)))
        return out

    async def register_patrons(self, home: str, count: int) -> list[str]:
        api = self.libs[home]

        async def one(i: int) -> str:
            card = f"F{self.tag}{home[:2].upper()}{i:05d}"
            res = await api.call(
                "POST",
                "/api/v1/patrons",
                json={
                    "category": "student",
                    "name_en": f"Fault Student {i}",
                    "date_of_birth": "2003-05-01",
                    "address": {"lines": [f"Hall {i}"], "district": "Campus"},
                    "email": f"student{i}@{home}.example.edu",
                    "card_number": card,
                },
                key=f"patron-{card}",
            )
            if res.status_code != 201:
                raise LoanStuck(f"registering {card} at {home}: {res.status_code} {res.text}")
            return res.json()["patron"]["patron_id"]

        return await _bounded(8, [lambda i=i: one(i) for i in range(count)])

    async def add_items(self, lender: str, count: int) -> list[tuple[str, str]]:
        api = self.libs[lender]

        async def one(i: int) -> tuple[str, str]:
            barcode = f"FL{self.tag}{lender[:2].upper()}{i:05d}"
            res = await api.call(
                "POST",
                "/api/v1/items",
                json={
                    "barcode": barcode,
                    "title": f"Fault loan {self.tag} {lender} {i:05d}",
                    "material_type": "book",
                    "service_point": SERVICE_POINT,
                },
                key=f"item-{barcode}",
            )
            if res.status_code != 201:
                raise LoanStuck(f"adding {barcode} at {lender}: {res.status_code} {res.text}")
            return res.json()["id"], barcode

        return await _bounded(8, [lambda i=i: one(i) for i in range(count)])

    async def record_of(self, lender: str, item_id: str, timeout: float = 180.0) -> int:
        """The union catalogue's record of the lender's item, once the catalogue shows it
        AVAILABLE (the item.changed went through the relay and the catalogue's consumer)."""
        assert self.catalog is not None
        end = time.monotonic() + timeout
        while True:
            res = await self.catalog.call("GET", f"/api/v1/holdings/{lender}/{item_id}")
            if res.status_code == 200:
                holding = res.json()
                if holding["record_id"] and holding["status"] == "AVAILABLE":
                    return int(holding["record_id"])
            if time.monotonic() > end:
                raise LoanStuck(f"the catalogue never showed {lender}'s item {item_id}")
            await asyncio.sleep(0.5)

    async def prepare(self, loans: int) -> list[Loan]:
        """Patrons at the homes, a book per loan at the lenders, the catalogue showing them."""
        plan = self.plan(loans)
        per_home = Counter(home for home, _ in plan)
        per_lender = Counter(lender for _, lender in plan)
        patrons = dict(
            zip(
                per_home,
                await asyncio.gather(
                    *(
                        self.register_patrons(h, -(-n // LOANS_PER_PATRON))
                        for h, n in per_home.items()
                    )
                ),
                strict=True,
            )
        )
        books = dict(
            zip(
                per_lender,
                await asyncio.gather(*(self.add_items(ln, n) for ln, n in per_lender.items())),
                strict=True,
            )
        )
        used_home: Counter = Counter()
        used_lender: Counter = Counter()
        pending = []
        for n, (home, lender) in enumerate(plan):
            patron = patrons[home][used_home[home] // LOANS_PER_PATRON]
            item_id, barcode = books[lender][used_lender[lender]]
            used_home[home] += 1
            used_lender[lender] += 1
            pending.append((n, home, lender, patron, item_id, barcode))
        records = await _bounded(16, [lambda p=p: self.record_of(p[2], p[4]) for p in pending])
        return [Loan(*p, record_id=r) for p, r in zip(pending, records, strict=True)]

    # ------------------------------------------------------------------------ one loan

    async def _wait(self, loan: Loan, api: Api, path: str, wanted: set[str], until: float) -> str:
        pause = POLL_FIRST
        while True:
            state = await api.state(path, wanted, WAIT)
            if state in wanted:
                return state
            if time.monotonic() > until:
                raise LoanStuck(f"{api.name}{path} stayed {state}, never {sorted(wanted)}")
            await asyncio.sleep(pause)
            # A message takes a fraction of a second when all is well, seconds while a
            # process restarts: polled less often the longer it takes.
            pause = min(pause * 1.5, POLL_MAX)

    async def _step(
        self,
        loan: Loan,
        name: str,
        api: Api,
        state_path: str,
        after: set[str],
        post: Callable[[], Awaitable[httpx.Response | None]],
        until: float,
    ) -> dict[str, Any] | None:
        """Take a step on the loan once. The first attempt is sent at once (the state the
        driver waited for allows it); an attempt whose answer was lost (the process died, a
        timeout, a 5xx, or a 409 because the lost attempt went through) is sent again only
        after reading the loan's state shows the step was not taken. Returns the answer of
        the attempt that went through, None when it was found taken."""
        loan.last_step = name
        answer: dict[str, Any] | None = None
        first = True
        while True:
            if not first and await api.state(state_path) in after:
                self.stats.second_tries[name] += 1
                break
            first = False
            res = await post()
            if res is not None and res.status_code in (200, 201):
                answer = res.json()
                break
            if res is not None and res.status_code != 409:
                raise LoanStuck(f"{name} at {api.name}: {res.status_code} {res.text}")
            # Down, failed, or a conflict with an attempt whose answer was lost: look again.
            if time.monotonic() > until:
                raise LoanStuck(f"{name} at {api.name} never went through")
            await asyncio.sleep(POLL_FIRST)
        self.stats.steps += 1
        return answer

    async def run_loan(self, loan: Loan, budget: float) -> None:
        start = time.monotonic()
        until = start + budget
        try:
            await self._run(loan, until)
            loan.completed = True
        except LoanStuck as exc:
            loan.error = str(exc)
        finally:
            loan.seconds = time.monotonic() - start

    async def _run(self, loan: Loan, until: float) -> None:
        home, lender = self.libs[loan.home], self.libs[loan.lender]
        assert self.broker is not None
        loan.last_step = "request"
        res = await home.call(
            "POST",
            "/api/v1/ill/borrowing",
            json={
                "patron_id": loan.patron_id,
                "record_id": loan.record_id,
                "pickup_location": SERVICE_POINT,
            },
            key=f"loan-{self.tag}-{loan.n}",
        )
        if res.status_code != 201:
            raise LoanStuck(f"request at {loan.home}: {res.status_code} {res.text}")
        txn = loan.txn = res.json()["transaction_id"]
        self.stats.steps += 1
        borrowing = f"/api/v1/ill/borrowing/{txn}"
        lending = f"/api/v1/ill/lending/{txn}"
        loan.last_step = "auto-supply"
        # The lender's policy holds its AVAILABLE copy at once (auto-accept).
        await self._wait(loan, lender, lending, {"WillSupply", "Loaned"}, until)
        await self._step(
            loan,
            "ship",
            lender,
            lending,
            {"Loaned", "ReturnShipped", "LoanCompleted"},
            lambda: lender.once("POST", f"{lending}/ship", json={"barcode": loan.barcode}),
            until,
        )
        loan.last_step = "shipped"
        await self._wait(loan, home, borrowing, {"Shipped", "AwaitingPickup"}, until)
        await self._step(
            loan,
            "receive",
            home,
            borrowing,
            {"AwaitingPickup", "CheckedOut", "Returned", "ShippedReturn", "Completed"},
            lambda: home.once(
                "POST", f"{borrowing}/receive", json={"service_point": SERVICE_POINT}
            ),
            until,
        )
        checked_out = await self._step(
            loan,
            "checkout",
            home,
            borrowing,
            {"CheckedOut", "Returned", "ShippedReturn", "Completed"},
            lambda: home.once("POST", f"{borrowing}/checkout"),
            until,
        )
        item = (checked_out or (await home.call("GET", borrowing)).json())["item_id"]

        async def give_back() -> httpx.Response | None:
            # The normal returns route, keyed: its retry gets the first answer.
            return await home.call(
                "POST",
                "/api/v1/returns",
                json={"item_id": item, "service_point": SERVICE_POINT},
                key=f"return-{txn}",
            )

        await self._step(
            loan,
            "return",
            home,
            borrowing,
            {"Returned", "ShippedReturn", "Completed"},
            give_back,
            until,
        )
        await self._step(
            loan,
            "ship-back",
            home,
            borrowing,
            {"ShippedReturn", "Completed"},
            lambda: home.once("POST", f"{borrowing}/ship-back"),
            until,
        )
        loan.last_step = "return shipped"
        await self._wait(loan, lender, lending, {"ReturnShipped", "LoanCompleted"}, until)
        await self._step(
            loan,
            "check-in",
            lender,
            lending,
            {"LoanCompleted"},
            lambda: lender.once("POST", f"{lending}/check-in"),
            until,
        )
        loan.last_step = "completed at home"
        await self._wait(loan, home, borrowing, {"Completed"}, until)
        loan.last_step = "completed at the broker"
        await self._wait(loan, self.broker, f"/api/v1/transactions/{txn}", {"LoanCompleted"}, until)

    async def run(
        self,
        loans: list[Loan],
        concurrency: int,
        budget: float,
        progress: Callable[[str], None] | None = None,
        start_until: float | None = None,
    ) -> list[Loan]:
        """Every loan, ``concurrency`` at a time; ``progress`` hears how far the run is. No
        loan is started after the monotonic time ``start_until`` (a bounded soak): those
        already under way go to their end. Returns the loans that were started."""
        start = time.monotonic()
        ended = 0
        started: list[Loan] = []

        async def one(loan: Loan) -> None:
            nonlocal ended
            if start_until is not None and time.monotonic() > start_until:
                return
            started.append(loan)
            await self.run_loan(loan, budget)
            ended += 1
            if progress is not None and (ended % 50 == 0 or ended == len(loans)):
                done = sum(1 for ln in loans if ln.completed)
                progress(
                    f"{ended}/{len(loans)} loans ended ({done} completed) after "
                    f"{time.monotonic() - start:.0f}s, {self.stats.failed_calls} calls retried"
                )

        await _bounded(concurrency, [lambda ln=ln: one(ln) for ln in loans])
        return sorted(started, key=lambda ln: ln.n)

    async def sides(self, loan: Loan) -> dict[str, str | None]:
        """Each side's state of a loan (for a report on one that did not complete)."""
        if loan.txn is None:
            return {}
        assert self.broker is not None
        return {
            "requester": await self.libs[loan.home].state(f"/api/v1/ill/borrowing/{loan.txn}"),
            "supplier": await self.libs[loan.lender].state(f"/api/v1/ill/lending/{loan.txn}"),
            "broker": await self.broker.state(f"/api/v1/transactions/{loan.txn}"),
        }


async def _bounded(limit: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return list(await asyncio.gather(*(run(j) for j in jobs)))
