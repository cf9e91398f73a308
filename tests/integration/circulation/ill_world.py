"""Two libraries and the consortium's broker in one process, on the real PostgreSQL: the home
library's and the lender's circulation services and the request broker, each with its own
database, its outbox relay and its consumer running on one in-process bus, and the union
catalogue's real app (its own database) that the home library and the broker ask.

Nothing is played by the test but the people: the patron and both libraries' staff use the
REST APIs; every ILL message goes library → broker → library as in production. The periodic
jobs do not run by themselves: a test runs them (``world.run``) after moving the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from deploy.queues import federation_queues
from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import ManualClock
from libs.common.db import drop_database, ensure_database, make_engine, pg_url, unit_of_work
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.topology import circulation_address
from libs.common.migrate import upgrade
from libs.common.service import PeriodicJob, ServiceRuntime
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.loading import load_records
from services.catalog.adapters.tables import holdings
from services.catalog.app import create_app as catalog_app
from services.catalog.domain.intake import records_from_json
from services.catalog.runtime import build_runtime as catalog_runtime
from services.circulation.adapters.tables import outbox as circulation_outbox
from services.circulation.app import create_app as circulation_app
from services.circulation.runtime import build_runtime as circulation_runtime
from services.requests.adapters.tables import outbox as requests_outbox
from services.requests.runtime import build_runtime as requests_runtime
from tests.integration.circulation.conftest import CHEAP_HASHER, Desk

FED = default_federation()
MEMBERS = {lib.code: lib.consortium for lib in FED.libraries}


def databases(*libraries: str) -> dict[str, str]:
    """A fresh migrated database per library's circulation, the broker and the catalogue."""
    urls = {key: pg_url(f"illfed_w_{key}_{uuid.uuid4().hex[:8]}") for key in libraries}
    urls["requests"] = pg_url(f"illfed_w_requests_{uuid.uuid4().hex[:8]}")
    urls["catalog"] = pg_url(f"illfed_w_catalog_{uuid.uuid4().hex[:8]}")

    async def make() -> None:
        for key, url in urls.items():
            await ensure_database(url)
            service = key if key in ("requests", "catalog") else "circulation"
            await upgrade(service, url)

    asyncio.run(make())
    return urls


def drop(urls: dict[str, str]) -> None:
    async def gone() -> None:
        for url in urls.values():
            await drop_database(url)

    asyncio.run(gone())


class Library(Desk):
    """A library's desk in the world: its staff's client, and its patrons' sign-in."""

    jobs: dict[str, PeriodicJob]

    async def patron(self, category: str = "student", **fields) -> tuple[dict, dict[str, str]]:
        p = await self.register(
            category=category,
            name_en="WONG, Siu Ming",
            email="siuming.wong@example.hk",
            phone="+852 6123 9876",
            **fields,
        )
        p["patron_id"] = p["patron"]["patron_id"]
        return p, await self.token(p)

    async def item(self, item_id: str) -> dict:
        res = await self.get(f"/api/v1/items/{item_id}")
        assert res.status_code == 200, res.text
        return res.json()

    async def token(self, patron: dict) -> dict[str, str]:
        res = await self.sign_in(patron["card_number"], "s3cret-pass")
        assert res.status_code == 201, res.text
        return {"Authorization": f"Bearer {res.json()['access_token']}"}


@dataclass
class World:
    clock: ManualClock
    broker: MemoryBroker
    libraries: dict[str, Library]
    runtimes: list[ServiceRuntime]
    requests: ServiceRuntime
    catalogue_engine: Any
    jobs: dict[str, PeriodicJob] = field(default_factory=dict)

    def __getitem__(self, code: str) -> Library:
        return self.libraries[code]

    async def catalogued(self, lender: str, item: dict, *, material_type: str = "book") -> int:
        """The union catalogue lists the lender's copy (as the lender's load would)."""
        work = [
            {
                "id": f"w-{item['id']}",
                "title": item["title"],
                "authors": ["劉智鵬"],
                "isbns": [item["isbn"]] if item.get("isbn") else [],
                "material_type": material_type,
                "holdings": [
                    {
                        "library": lender,
                        "item_id": item["id"],
                        "status": "AVAILABLE",
                        "material_type": material_type,
                    }
                ],
            }
        ]
        async with unit_of_work(self.catalogue_engine) as conn:
            report = await load_records(conn, list(records_from_json(work)), members=MEMBERS)
            assert not report.rejected, report.rejected
            return int(
                await conn.scalar(
                    select(holdings.c.record_id).where(holdings.c.item_id == item["id"])
                )
            )

    async def settle(self, timeout: float = 20.0) -> None:
        """Until every message sent has been relayed and taken by its receiver."""
        queues = ["requests.inbox"] + [
            f"{circulation_address(code)}.inbox" for code in self.libraries
        ]
        outboxes = [(self.requests.engine, requests_outbox)] + [
            (lib.runtime.engine, circulation_outbox) for lib in self.libraries.values()
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while loop.time() < deadline:
            unsent = 0
            for engine, table in outboxes:
                async with engine.connect() as conn:
                    unsent += await conn.scalar(
                        select(func.count()).select_from(table).where(table.c.sent_at.is_(None))
                    )
            busy = sum(self.broker.depth(q) for q in queues)
            # twice quiet in a row: a consumer may be between taking a message and its commit
            quiet = quiet + 1 if unsent == 0 and busy == 0 else 0
            if quiet >= 2:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the federation did not settle")

    async def travel(self, when: datetime) -> None:
        """Move the clock (tokens expire by it: every library's staff sign in again)."""
        self.clock.set(when)
        for lib in self.libraries.values():
            await lib.login_staff()

    async def run(self, library: str, job: str) -> Any:
        """Run one of a library's periodic jobs now, then let its messages travel."""
        result = await self.libraries[library].jobs[job].run()
        await self.settle()
        return result


@contextlib.asynccontextmanager
async def open_world(urls: dict[str, str], clock: ManualClock, *libraries: str):
    broker = MemoryBroker()
    broker.declare(federation_queues(FED))
    cat_rt = catalog_runtime(FED, urls["catalog"], broker.handle("catalog"), clock)
    cat_app = catalog_app(cat_rt, FED, DEV_SECRET)

    def catalogue() -> CatalogueClient:
        return CatalogueClient("http://catalog.test", transport=httpx.ASGITransport(app=cat_app))

    broker_rt = requests_runtime(
        FED, urls["requests"], broker.handle("requests"), clock, catalogue=catalogue()
    )
    broker_rt.jobs.clear()
    runtimes: list[ServiceRuntime] = [broker_rt]
    libs: dict[str, Library] = {}
    cat_engine = make_engine(urls["catalog"])
    async with contextlib.AsyncExitStack() as stack:
        for code in libraries:
            rt = circulation_runtime(
                code,
                urls[code],
                broker.handle(code),
                clock,
                hasher=CHEAP_HASHER,
                catalogue=catalogue(),
            )
            jobs = {j.name: j for j in rt.jobs}
            rt.jobs.clear()  # run by the tests, on the moved clock
            app = circulation_app(rt, FED, DEV_SECRET)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=f"http://{code}.test"
                )
            )
            lib = Library(client, rt, clock)
            lib.jobs = jobs
            await lib.login_staff()
            libs[code] = lib
            runtimes.append(rt)
        for rt in runtimes:
            await rt.start()
        world = World(clock, broker, libs, runtimes, broker_rt, cat_engine)
        try:
            yield world
        finally:
            for rt in reversed(runtimes):
                await rt.stop()
            for rt in runtimes:
                await rt.engine.dispose()
            await cat_rt.engine.dispose()
            await cat_engine.dispose()
