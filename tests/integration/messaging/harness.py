"""A small service for exercising the messaging plumbing on real servers: one table of
effects, the outbox and the inbox, a publisher library and a consuming service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.common.clock import ManualClock
from libs.common.contracts import ItemChanged
from libs.common.db import make_engine, unit_of_work
from libs.common.messaging import connect_bus
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.outbox import OutboxRelay, send
from libs.common.messaging.retry import RetryPolicy
from libs.common.messaging.tables import messaging_tables
from libs.common.settings import DEV_SECRET

metadata = MetaData()
outbox, inbox = messaging_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("applied", Integer, nullable=False),
)

QUEUE = "catalog.items"
# Short delays: tests check that retries wait and grow, not how long they take.
QUICK_RETRY = RetryPolicy(base=0.05, factor=3)


def ANY_SENDER(_sender: str) -> bool:
    return True  # these tests are about delivery, not about who may send


def item_event(item_id: str, version: int = 1) -> ItemChanged:
    return ItemChanged(
        library="cityu",
        item_id=item_id,
        version=version,
        change="added",
        status="AVAILABLE",
        material_type="book",
        title="A book",
    )


async def count_effect(conn, _ctx, env, payload: ItemChanged) -> None:
    """The effect under test: each processed message bumps the item's counter by one."""
    stmt = pg_insert(effects).values(item_id=payload.item_id, applied=1)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["item_id"], set_={"applied": effects.c.applied + 1}
        )
    )


@dataclass
class Harness:
    admin_url: str
    db_url: str
    clock: ManualClock

    async def start(self):
        self.engine = make_engine(self.db_url)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        self.pub_bus = await connect_bus(self.admin_url, "cityu", DEV_SECRET)
        self.sub_bus = await connect_bus(self.admin_url, "catalog", DEV_SECRET)
        self.relay = OutboxRelay(self.engine, outbox, self.pub_bus, self.clock)
        self.consumer = self.new_consumer()
        return self

    def new_consumer(self, handler=count_effect, retry: RetryPolicy = QUICK_RETRY) -> Consumer:
        return Consumer(
            "test.catalog",
            QUEUE,
            self.engine,
            inbox,
            self.sub_bus,
            self.clock,
            {ItemChanged: handler},
            delivery_limit=3,
            retry=retry,
            allowed_senders=ANY_SENDER,
        )

    async def emit(self, item_id: str) -> str:
        async with unit_of_work(self.engine) as conn:
            env = await send(
                conn,
                outbox,
                item_event(item_id),
                sender="cityu",
                correlation_id=f"item:{item_id}",
                clock=self.clock,
                causation_id=None,
            )
        return env.message_id

    async def applied(self, item_id: str) -> int:
        async with self.engine.connect() as conn:
            v = (
                await conn.execute(select(effects.c.applied).where(effects.c.item_id == item_id))
            ).scalar()
        return v or 0

    async def wait_applied(self, item_id: str, n: int = 1, timeout: float = 10.0) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if (v := await self.applied(item_id)) >= n:
                return v
            await asyncio.sleep(0.05)
        return await self.applied(item_id)

    async def unsent(self) -> int:
        async with self.engine.connect() as conn:
            return len(
                (await conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)))).all()
            )

    async def close(self):
        await self.consumer.stop()
        await self.pub_bus.close()
        await self.sub_bus.close()
        await self.engine.dispose()


async def admin_queue_messages(admin_url: str, queue: str, timeout: float = 5.0):
    """Read (and remove) what is in a queue, waiting up to ``timeout`` for the first one."""
    conn = await aio_pika.connect(admin_url)
    out = []
    try:
        ch = await conn.channel()
        q = await ch.get_queue(queue, ensure=False)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            msg = await q.get(no_ack=True, fail=False)
            if msg is not None:
                out.append(msg)
                continue
            if out or asyncio.get_running_loop().time() > deadline:
                return out
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def purge(admin_url: str, *queues: str) -> None:
    conn = await aio_pika.connect(admin_url)
    try:
        ch = await conn.channel()
        for name in queues:
            q = await ch.get_queue(name, ensure=False)
            await q.purge()
    finally:
        await conn.close()


async def publish_raw(
    url: str,
    body: bytes,
    *,
    message_id: str,
    routing_key="item.changed",
    exchange="illfed.events",
    headers: dict | None = None,
):
    """Publish bytes as-is (no outbox, no envelope checks), as a misbehaving partner might."""
    conn = await aio_pika.connect(url)
    try:
        ch = await conn.channel(publisher_confirms=True)
        ex = await ch.get_exchange(exchange, ensure=False)
        from yarl import URL

        await ex.publish(
            aio_pika.Message(
                body,
                message_id=message_id,
                user_id=URL(url).user,
                headers=headers or {},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )
    finally:
        await conn.close()


async def set_applied(engine, item_id: str, n: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(effects).where(effects.c.item_id == item_id).values(applied=n))
