"""The request broker on a migrated PostgreSQL database, asking the real union catalogue (its
app on its own PostgreSQL database, over HTTP in process), with member libraries played by
the test: each sends ILL messages as itself on the bus and reads what reaches its queue.

The broker's consumer, outbox relay and dead-letter collector run; its periodic jobs do not
run by themselves: a test runs them (``world.run_job``) after moving the ManualClock.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from deploy.queues import federation_queues
from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import ManualClock
from libs.common.contracts import Envelope, IllRequest, IllRequesterMessage, IllSupplierMessage
from libs.common.contracts.ill import IllPatron, IllRecord
from libs.common.db import drop_database, ensure_database, make_engine, pg_url, unit_of_work
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import DIRECT, circulation_address
from libs.common.migrate import upgrade
from libs.common.service import PeriodicJob
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.loading import load_records
from services.catalog.adapters.tables import holdings
from services.catalog.app import create_app as catalog_app
from services.catalog.domain.intake import records_from_json
from services.catalog.runtime import build_runtime as catalog_runtime
from services.requests.adapters.tables import outbox
from services.requests.app import create_app as requests_app
from services.requests.runtime import build_runtime

FED = default_federation()
MEMBERS = {lib.code: lib.consortium for lib in FED.libraries}
_n = itertools.count(1)


class CatalogueLink(httpx.AsyncBaseTransport):
    """The network between the broker and the catalogue's real app: cut it and the
    catalogue is away (connections refused), mend it and it answers again."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.up = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture(scope="module")
def catalogue_db() -> Iterator[str]:
    url = pg_url(f"illfed_test_cat_{uuid.uuid4().hex[:10]}")
    try:
        asyncio.run(ensure_database(url))
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    asyncio.run(upgrade("catalog", url))
    yield url
    asyncio.run(drop_database(url))


@dataclass
class World:
    broker: MemoryBroker
    runtime: Any
    app: Any
    clock: ManualClock
    link: CatalogueLink
    catalogue_engine: Any
    jobs: dict[str, PeriodicJob]
    seqs: dict[tuple[str, str], int] = field(default_factory=dict)

    # -- the catalogue ----------------------------------------------------------------------
    async def catalogue_record(self, *holders: str, title: str = "香港歷史") -> int:
        """Load a record held by ``holders`` ("library" or "library:STATUS") through the
        catalogue's own loader; returns its record id."""
        tag = uuid.uuid4().hex[:8]
        items = []
        for i, holder in enumerate(holders):
            library, _, status = holder.partition(":")
            items.append(
                {
                    "library": library,
                    "item_id": f"{library}-{tag}-{i}",
                    "status": status or "AVAILABLE",
                }
            )
        work = [
            {"id": f"w-{tag}", "title": f"{title} {tag}", "authors": ["劉智鵬"], "holdings": items}
        ]
        async with unit_of_work(self.catalogue_engine) as conn:
            report = await load_records(conn, list(records_from_json(work)), members=MEMBERS)
            assert not report.rejected, report.rejected
            return int(
                await conn.scalar(
                    select(holdings.c.record_id).where(holdings.c.item_id == items[0]["item_id"])
                )
            )

    # -- a library on the bus ---------------------------------------------------------------
    def next_seq(self, library: str, txn: str) -> int:
        self.seqs[(library, txn)] = self.seqs.get((library, txn), 0) + 1
        return self.seqs[(library, txn)]

    def envelope(self, library: str, payload: BaseModel, txn: str) -> Envelope:
        return make_envelope(
            payload, sender=library, recipient="requests", correlation_id=txn, clock=self.clock
        )

    async def publish(self, library: str, env: Envelope) -> None:
        await self.broker.handle(library).publish(
            DIRECT,
            "requests",
            env.model_dump_json().encode(),
            message_id=env.message_id,
            correlation_id=env.correlation_id,
        )

    async def say(self, library: str, payload: BaseModel) -> Envelope:
        """``library`` sends ``payload`` (its ``seq`` already set) to the broker."""
        txn = payload.transaction_id  # type: ignore[attr-defined]
        env = self.envelope(library, payload, txn)
        await self.publish(library, env)
        await self.settle()
        return env

    def request(
        self,
        requester: str,
        record_id: int,
        *,
        consortium: str | None = None,
        patron_ref: str = "p-0123456789abcdef",
    ) -> IllRequest:
        txn = str(uuid.uuid4())
        return IllRequest(
            transaction_id=txn,
            seq=self.next_seq(requester, txn),
            requester=requester,
            pickup_location="main",
            patron=IllPatron(
                ref=patron_ref, category="student", consortium=consortium or MEMBERS[requester]
            ),
            record=IllRecord(record_id=record_id, title="香港歷史"),
            requested_at=self.clock.now(),
        )

    async def lender_says(
        self, lender: str, txn: str, status: str, reason: str = "RequestResponse", **fields
    ) -> Envelope:
        msg = IllSupplierMessage(
            transaction_id=txn,
            seq=self.next_seq(lender, txn),
            supplier=lender,
            status=status,
            reason=reason,
            occurred_at=self.clock.now(),
            **fields,
        )
        return await self.say(lender, msg)

    async def requester_says(self, requester: str, txn: str, action: str, **fields) -> Envelope:
        msg = IllRequesterMessage(
            transaction_id=txn,
            seq=self.next_seq(requester, txn),
            requester=requester,
            action=action,
            occurred_at=self.clock.now(),
            **fields,
        )
        return await self.say(requester, msg)

    def received(
        self, library: str, txn: str | None = None, type_: str | None = None
    ) -> list[Envelope]:
        """What reached ``library``'s queue (about ``txn``, of ``type_``), in order."""
        out = []
        for msg in self.broker.peek(f"{circulation_address(library)}.inbox"):
            env = Envelope.model_validate_json(msg.body)
            if (txn is None or env.correlation_id == txn) and (type_ is None or env.type == type_):
                out.append(env)
        return out

    async def settle(self, timeout: float = 10.0) -> None:
        """Until the broker has processed every message and published what it sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            async with self.runtime.engine.connect() as conn:
                unsent = await conn.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
                )
            if self.broker.depth("requests.inbox") == 0 and not unsent:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the broker did not settle")

    async def run_job(self, name: str) -> object:
        result = await self.jobs[name].run()
        await self.settle()
        return result

    # -- the API ----------------------------------------------------------------------------
    def client(self, role: str, library: str | None = None) -> httpx.AsyncClient:
        token = self.app.state.tokens.issue(library or "operator", role, library)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://requests.test",
            headers={"Authorization": f"Bearer {token}"},
        )

    async def transaction(self, txn: str) -> dict:
        async with self.client("operator") as c:
            res = await c.get(f"/api/v1/transactions/{txn}")
        assert res.status_code == 200, res.text
        return res.json()


@pytest.fixture
async def world(pg_database, catalogue_db):
    clock = ManualClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    broker = MemoryBroker()
    broker.declare(federation_queues(FED))
    cat_rt = catalog_runtime(FED, catalogue_db, broker.handle("catalog"), clock)
    link = CatalogueLink(catalog_app(cat_rt, FED, DEV_SECRET))
    catalogue = CatalogueClient("http://catalog.test", transport=link)
    await upgrade("requests", pg_database)
    rt = build_runtime(FED, pg_database, broker.handle("requests"), clock, catalogue=catalogue)
    jobs = {j.name: j for j in rt.jobs}
    rt.jobs.clear()  # run by the tests, on the moved clock
    await rt.start()
    cat_engine = make_engine(catalogue_db)
    try:
        yield World(broker, rt, requests_app(rt, FED, DEV_SECRET), clock, link, cat_engine, jobs)
    finally:
        await rt.stop()
        await rt.engine.dispose()
        await cat_rt.engine.dispose()
        await cat_engine.dispose()
