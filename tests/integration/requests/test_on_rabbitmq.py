"""The broker on the real RabbitMQ (its own broker login; each library as its own): a request
reaches the lender the broker chose, through the broker's outbox and the lender's queue;
a library naming another library as the supplier is dead-lettered and parked with its
reason for the operators."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import ManualClock
from libs.common.contracts import Envelope, IllRequest, IllSupplierMessage
from libs.common.contracts.ill import IllPatron, IllRecord
from libs.common.db import make_engine
from libs.common.messaging import connect_bus
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import DIRECT
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.catalog.app import create_app as catalog_app
from services.catalog.runtime import build_runtime as catalog_runtime
from services.requests.adapters.tables import dead_letters, ill_transactions
from services.requests.runtime import build_runtime
from tests.integration.messaging.harness import admin_queue_messages, purge
from tests.integration.requests.conftest import FED, CatalogueLink, World

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]
QUEUES = [
    "requests.inbox",
    "requests.inbox.dlq",
    "circulation.eduhk.inbox",
    "circulation.hkbu.inbox",
    "circulation.cuhk.inbox",
]


async def _until(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (found := await check()) is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_request_reaches_the_chosen_lender_and_a_forgery_is_parked(
    rabbit_vhost, pg_database, catalogue_db
):
    await purge(rabbit_vhost, *QUEUES)
    clock = ManualClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    memory = MemoryBroker()  # the catalogue's own bus is not under test here
    cat_rt = catalog_runtime(FED, catalogue_db, memory.handle("catalog"), clock)
    link = CatalogueLink(catalog_app(cat_rt, FED, DEV_SECRET))
    await upgrade("requests", pg_database)
    bus = await connect_bus(rabbit_vhost, "requests", DEV_SECRET)
    rt = build_runtime(
        FED, pg_database, bus, clock, catalogue=CatalogueClient("http://c.test", transport=link)
    )
    rt.jobs.clear()
    eduhk = await connect_bus(rabbit_vhost, "eduhk", DEV_SECRET)
    cat_engine = make_engine(catalogue_db)
    helper = World(memory, rt, None, clock, link, cat_engine, {})
    await rt.start()
    try:
        record = await helper.catalogue_record("hkbu")
        txn = str(uuid.uuid4())
        request = IllRequest(
            transaction_id=txn,
            seq=1,
            requester="eduhk",
            pickup_location="main",
            patron=IllPatron(ref="p-0123456789abcdef", category="student", consortium="HKALL"),
            record=IllRecord(record_id=record, title="香港歷史"),
            requested_at=clock.now(),
        )
        env = make_envelope(
            request, sender="eduhk", recipient="requests", correlation_id=txn, clock=clock
        )
        await eduhk.publish(
            DIRECT, "requests", env.model_dump_json().encode(), message_id=env.message_id
        )
        [delivered] = await admin_queue_messages(rabbit_vhost, "circulation.hkbu.inbox", 15)
        forwarded = Envelope.model_validate_json(delivered.body)
        assert delivered.user_id == "illfed-requests"
        assert forwarded.type == "ill.request" and forwarded.payload["supplier"] == "hkbu"
        assert forwarded.causation_id == env.message_id

        async def state():
            async with rt.engine.connect() as conn:
                return await conn.scalar(
                    select(ill_transactions.c.state).where(ill_transactions.c.id == txn)
                )

        assert await _until(state) == "ExpectToSupply"

        # eduhk claims to be the lender hkbu
        forged = IllSupplierMessage(
            transaction_id=txn,
            seq=1,
            supplier="hkbu",
            status="WillSupply",
            reason="RequestResponse",
            occurred_at=clock.now(),
        )
        bad = make_envelope(
            forged, sender="eduhk", recipient="requests", correlation_id=txn, clock=clock
        )
        await eduhk.publish(
            DIRECT, "requests", bad.model_dump_json().encode(), message_id=bad.message_id
        )

        async def parked():
            async with rt.engine.connect() as conn:
                return (
                    (
                        await conn.execute(
                            select(dead_letters).where(dead_letters.c.message_id == bad.message_id)
                        )
                    )
                    .mappings()
                    .first()
                )

        row = await _until(parked)
        assert row["original_user"] == "illfed-eduhk"
        assert "names supplier 'hkbu' but 'eduhk' sent it" in row["reason"]
        assert await state() == "ExpectToSupply"
    finally:
        await rt.close()
        await eduhk.close()
        await cat_rt.engine.dispose()
        await cat_engine.dispose()
        await purge(rabbit_vhost, *QUEUES)
