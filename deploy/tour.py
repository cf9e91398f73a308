"""A guided tour for a newcomer: one HKALL loan and one MALA loan through their whole lives,
against a running federation (``make run`` or ``make up``), through the public APIs only.

    python -m deploy.tour [--federation deploy/federation.toml]

Each step says who does what, then the transaction's state on each side: the patron's home
library (requester), the lending library (supplier) and the consortium's broker. It ends with
each loan's final state. It registers nothing of its own: it signs in as the demo users the
launcher seeds (card ``<LIBRARY>000001``, password ``demo-reader``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from libs.common.auth import client_secret
from libs.common.federation import Federation, load_federation
from libs.common.settings import DEV_SECRET

DEFAULT_FEDERATION = Path(__file__).with_name("federation.toml")
WAIT_SECONDS = 60.0


class TourFailed(RuntimeError):
    pass


@dataclass
class Party:
    """One service of the federation, with the token it is called with."""

    name: str
    url: str
    http: httpx.AsyncClient
    token: str | None = None

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    async def get(self, path: str, **params: Any) -> dict:
        res = await self.http.get(self.url + path, params=params or None, headers=self._headers())
        if res.status_code != 200:
            raise TourFailed(f"GET {self.name}{path}: {res.status_code} {res.text}")
        return res.json()

    async def find(self, path: str) -> dict | None:
        """Like :meth:`get`, but None for a 404 (not known there yet)."""
        res = await self.http.get(self.url + path, headers=self._headers())
        if res.status_code == 404:
            return None
        if res.status_code != 200:
            raise TourFailed(f"GET {self.name}{path}: {res.status_code} {res.text}")
        return res.json()

    async def post(self, path: str, body: dict | None = None, *, expect=(200, 201)) -> dict:
        headers = self._headers({"Idempotency-Key": str(uuid.uuid4())})
        res = await self.http.post(self.url + path, json=body or {}, headers=headers)
        if res.status_code not in expect:
            raise TourFailed(f"POST {self.name}{path}: {res.status_code} {res.text}")
        return res.json()


@dataclass
class Tour:
    fed: Federation
    secret: str
    http: httpx.AsyncClient
    out: Any = sys.stdout
    step_no: int = 0
    parties: dict[str, Party] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def _token(self, url: str, client_id: str) -> str:
        res = await self.http.post(
            f"{url}/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret(self.secret, client_id),
            },
        )
        if res.status_code != 200:
            raise TourFailed(f"{client_id} could not get a token at {url}: {res.text}")
        return res.json()["access_token"]

    async def library(self, code: str) -> Party:
        """The library's circulation service, called by its own staff."""
        if code not in self.parties:
            url = self.fed.url(self.fed.library(code).port)
            self.parties[code] = Party(code, url, self.http, await self._token(url, code))
        return self.parties[code]

    async def broker(self) -> Party:
        if "requests" not in self.parties:
            url = self.fed.url(self.fed.services["requests"].port)
            operator = self.fed.operators[0].client_id
            self.parties["requests"] = Party(
                "requests", url, self.http, await self._token(url, operator)
            )
        return self.parties["requests"]

    async def patron(self, library: str, card: str, password: str) -> Party:
        home = await self.library(library)
        res = await self.http.post(
            f"{home.url}/api/v1/patron-sessions", json={"identifier": card, "secret": password}
        )
        if res.status_code != 201:
            raise TourFailed(f"{card} could not sign in at {library}: {res.text}")
        # The tour calls with the token; the session cookie would go to every port of the host.
        self.http.cookies.clear()
        return Party(f"{library} patron {card}", home.url, self.http, res.json()["access_token"])

    # ------------------------------------------------------------------ what each side says

    async def states(self, txn: str, requester: str, supplier: str | None) -> dict[str, str]:
        home = await self.library(requester)
        seen = {"requester": (await home.get(f"/api/v1/ill/borrowing/{txn}"))["state"]}
        # The broker and the lender hear of the request through the bus, a moment later: until
        # then they know nothing of it ("-").
        broker = await (await self.broker()).find(f"/api/v1/transactions/{txn}") or {}
        seen["broker"] = broker.get("state", "-")
        lender = supplier or broker.get("current_lender")
        if lender:
            lending = await (await self.library(lender)).find(f"/api/v1/ill/lending/{txn}")
            seen["supplier"] = (lending or {}).get("state", "-")
        return seen

    async def step(self, text: str, txn: str, requester: str, supplier: str | None) -> None:
        self.step_no += 1
        seen = await self.states(txn, requester, supplier)
        where = "  ".join(f"{side}={state}" for side, state in seen.items())
        self.say(f"{self.step_no:>2}. {text}\n      {where}")

    async def wait_for(
        self, txn: str, requester: str, side: str, wanted: set[str], supplier: str | None = None
    ) -> dict[str, str]:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            seen = await self.states(txn, requester, supplier)
            if seen.get(side) in wanted:
                return seen
            if time.monotonic() > deadline:
                raise TourFailed(f"{txn}: {side} never reached {sorted(wanted)}; states {seen}")
            await asyncio.sleep(0.3)

    # ------------------------------------------------------------------ one loan's life

    async def requestable_record(self, requester: str, query: str) -> dict:
        """A book the requester's patrons may ask for: another member has it AVAILABLE
        (HKALL-02), the home library has no copy in place (HKALL-03), and the lender's own
        circulation service knows the copy the catalogue shows (the catalogue only mirrors)."""
        catalogue = self.fed.url(self.fed.services["catalog"].port)
        res = await self.http.get(
            f"{catalogue}/api/v1/search",
            params={"q": query, "home_library": requester, "scope": "consortium"},
        )
        res.raise_for_status()
        for record in res.json()["results"]:
            requestability = record.get("requestability") or {}
            if not requestability.get("requestable"):
                continue
            for holding in record["holdings"]:
                if holding["library"] not in requestability["lenders"]:
                    continue
                lender = await self.library(holding["library"])
                found = await self.http.get(
                    f"{lender.url}/api/v1/items/{holding['item_id']}", headers=lender._headers()
                )
                if found.status_code == 200 and found.json()["status"] == "AVAILABLE":
                    return record
        raise TourFailed(f"no record for {query!r} that {requester}'s patrons may request")

    async def loan(
        self, title: str, requester: str, card: str, pickup: str, returned_at: str, query: str
    ) -> dict[str, str]:
        self.say(f"\n== {title} ==")
        patron = await self.patron(requester, card, "demo-reader")
        record = await self.requestable_record(requester, query)
        body = {"record_id": record["id"], "pickup_location": pickup}
        dry = await patron.post("/api/v1/me/ill-requests?dry_run=true", body)
        self.say(f"    dry run for “{record['title']}”: {dry}")
        made = await patron.post("/api/v1/me/ill-requests", body)
        txn = made["transaction_id"]
        await self.step(f"{card} at {requester} asks for “{record['title']}”", txn, requester, None)
        seen = await self.wait_for(
            txn, requester, "requester", {"ExpectToSupply", "WillSupply", "Shipped"}
        )
        lender = (await (await self.broker()).get(f"/api/v1/transactions/{txn}"))["current_lender"]
        await self.step(f"the broker asked {lender}", txn, requester, lender)
        staff = await self.library(lender)
        seen = await self.wait_for(
            txn, requester, "supplier", {"RequestReceived", "WillSupply"}, lender
        )
        if seen["supplier"] == "RequestReceived":
            await staff.post(f"/api/v1/ill/lending/{txn}/will-supply")
            await self.step(f"{lender}'s staff will supply", txn, requester, lender)
        else:
            await self.step(f"{lender} held its own AVAILABLE copy at once", txn, requester, lender)
        lending = await staff.get(f"/api/v1/ill/lending/{txn}")
        await staff.post(f"/api/v1/ill/lending/{txn}/ship", {"barcode": lending["barcode"]})
        await self.wait_for(txn, requester, "requester", {"Shipped"}, lender)
        await self.step(f"{lender} ships it with the loan terms", txn, requester, lender)
        home = await self.library(requester)
        await home.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": pickup})
        await self.step(
            f"{requester} receives it at {pickup}; the patron is e-mailed", txn, requester, lender
        )
        loan = await home.post(f"/api/v1/ill/borrowing/{txn}/checkout")
        await self.step(
            f"the patron collects it, due {loan.get('due_date')}", txn, requester, lender
        )
        borrowing = await home.get(f"/api/v1/ill/borrowing/{txn}")
        await home.post(
            "/api/v1/returns", {"item_id": borrowing["item_id"], "service_point": returned_at}
        )
        await self.step(f"the patron returns it at {returned_at}", txn, requester, lender)
        await home.post(f"/api/v1/ill/borrowing/{txn}/ship-back")
        await self.wait_for(txn, requester, "supplier", {"ReturnShipped"}, lender)
        await self.step(f"{requester} ships it back", txn, requester, lender)
        await staff.post(f"/api/v1/ill/lending/{txn}/check-in")
        final = await self.wait_for(txn, requester, "requester", {"Completed"}, lender)
        final = await self.wait_for(txn, requester, "broker", {"LoanCompleted"}, lender)
        await self.step(f"{lender} checks it in: the loan is complete", txn, requester, lender)
        return final


async def run_tour(fed: Federation, secret: str, out: Any = sys.stdout) -> dict[str, dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        tour = Tour(fed, secret, http, out)
        results: dict[str, dict] = {}
        codes = {lib.code: lib for lib in fed.libraries}
        hkall = _pick(fed, "HKALL", prefer=("eduhk",))
        if hkall:
            lib = codes[hkall]
            points = [sp.code for sp in lib.service_points]
            results["HKALL"] = await tour.loan(
                f"An HKALL loan: a student of {lib.name}",
                hkall,
                f"{hkall.upper()}000001",
                points[-1],
                points[0],
                "紅樓夢",
            )
        mala = _pick(fed, "MALA", prefer=("um",))
        if mala:
            lib = codes[mala]
            point = lib.service_points[0].code
            results["MALA"] = await tour.loan(
                f"A MALA loan: a student of {lib.name}",
                mala,
                f"{mala.upper()}000001",
                point,
                point,
                "澳門文學史",
            )
        tour.say("\n== Final states ==")
        for consortium, seen in results.items():
            tour.say(f"  {consortium}: " + "  ".join(f"{k}={v}" for k, v in seen.items()))
        return results


def _pick(fed: Federation, consortium: str, prefer: tuple[str, ...]) -> str | None:
    members = [lib.code for lib in fed.libraries if lib.consortium == consortium]
    if len(members) < 2:
        return None  # a loan between libraries needs two of them
    return next((code for code in prefer if code in members), members[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--federation", type=Path, default=DEFAULT_FEDERATION)
    args = parser.parse_args(argv)
    fed = load_federation(args.federation)
    secret = os.environ.get("ILLFED_SECRET_KEY", DEV_SECRET)
    try:
        asyncio.run(run_tour(fed, secret))
    except (TourFailed, httpx.HTTPError) as exc:
        print(f"\nThe tour stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
