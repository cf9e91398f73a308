"""The in-process bus of the embedded federation keeps RabbitMQ's delivery semantics:
ack after commit, redelivery, a delivery limit, dead letters with reasons, sender identity."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from libs.common.clock import ManualClock
from libs.common.contracts import ItemChanged
from libs.common.db import make_engine, sqlite_url, unit_of_work
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import OutboxRelay, send
from libs.common.messaging.retry import RETRY_USER_HEADER, RetryPolicy
from libs.common.messaging.tables import messaging_tables
from libs.common.messaging.topology import QueueSpec

metadata = MetaData()
outbox, inbox = messaging_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("applied", Integer, nullable=False),
)
SPEC = QueueSpec("catalog.items", "catalog", (("illfed.events", "item.changed"),), delivery_limit=3)


def ANY_SENDER(_sender: str) -> bool:
    return True  # these tests are about delivery, not about who may send


def catalogue_consumer(engine, broker, clock, handler, **options) -> Consumer:
    """A consumer of the catalogue's queue that applies ``handler`` to item changes."""
    return Consumer(
        "c",
        "catalog.items",
        engine,
        inbox,
        broker.handle("catalog"),
        clock,
        {ItemChanged: handler},
        allowed_senders=ANY_SENDER,
        **options,
    )


def event(item_id: str) -> ItemChanged:
    return ItemChanged(
        library="cityu",
        item_id=item_id,
        version=1,
        change="added",
        status="AVAILABLE",
        material_type="book",
    )


async def bump(conn, _ctx, env, payload):
    row = (
        await conn.execute(select(effects.c.applied).where(effects.c.item_id == payload.item_id))
    ).scalar()
    if row is None:
        await conn.execute(effects.insert().values(item_id=payload.item_id, applied=1))
    else:
        await conn.execute(
            effects.update().where(effects.c.item_id == payload.item_id).values(applied=row + 1)
        )


@pytest.fixture
async def world(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "bus.db"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    broker = MemoryBroker()
    broker.declare([SPEC])
    clock = ManualClock()
    yield engine, broker, clock
    await engine.dispose()


async def applied(engine, item_id):
    async with engine.connect() as conn:
        return (
            await conn.execute(select(effects.c.applied).where(effects.c.item_id == item_id))
        ).scalar() or 0


async def settle(broker, queue="catalog.items"):
    for _ in range(200):
        if broker.depth(queue) == 0:
            return
        await asyncio.sleep(0.01)


async def test_relay_and_consumer_apply_each_change_once_even_when_published_twice(world):
    engine, broker, clock = world
    relay = OutboxRelay(engine, outbox, broker.handle("cityu"), clock)
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            event("a"),
            sender="cityu",
            correlation_id="a",
            clock=clock,
            causation_id=None,
        )
    await relay.drain()
    async with engine.begin() as conn:  # as if the relay died before marking it sent
        await conn.execute(outbox.update().values(sent_at=None))
    await relay.drain()
    consumer = catalogue_consumer(engine, broker, clock, bump)
    await consumer.start()
    await settle(broker)
    await consumer.stop()
    assert await applied(engine, "a") == 1


async def test_rolled_back_change_sends_nothing(world):
    engine, broker, clock = world
    relay = OutboxRelay(engine, outbox, broker.handle("cityu"), clock)
    with pytest.raises(ZeroDivisionError):
        async with unit_of_work(engine) as conn:
            await send(
                conn,
                outbox,
                event("b"),
                sender="cityu",
                correlation_id="b",
                clock=clock,
                causation_id=None,
            )
            1 / 0  # noqa: B018
    assert await relay.drain() == 0
    assert broker.depth("catalog.items") == 0


async def test_malformed_and_forged_messages_are_dead_lettered_with_reasons(world):
    engine, broker, clock = world
    cityu = broker.handle("cityu")
    await cityu.publish("illfed.events", "item.changed", b"[]", message_id="bad")
    forged = {
        "message_id": "forged",
        "type": "item.changed",
        "version": 1,
        "sender": "hkbu",
        "correlation_id": "x",
        "sent_at": "2026-01-05T00:00:00Z",
        "payload": event("f").model_dump(mode="json"),
    }
    await cityu.publish(
        "illfed.events", "item.changed", json.dumps(forged).encode(), message_id="forged"
    )
    good = OutboxRelay(engine, outbox, cityu, clock)
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            event("good"),
            sender="cityu",
            correlation_id="g",
            clock=clock,
            causation_id=None,
        )
    await good.drain()
    consumer = catalogue_consumer(engine, broker, clock, bump)
    await consumer.start()
    await settle(broker)
    await consumer.stop()
    assert await applied(engine, "good") == 1
    dead = {m.message_id: m.headers["x-illfed-reason"] for m in broker.peek("catalog.items.dlq")}
    assert "malformed message" in dead["bad"]
    assert "does not match the authenticated broker user" in dead["forged"]


async def test_failing_handler_is_retried_then_parked_with_the_error(world):
    engine, broker, clock = world
    calls = []

    async def flaky(conn, _ctx, env, payload):
        calls.append(1)
        raise RuntimeError("disk full")

    relay = OutboxRelay(engine, outbox, broker.handle("cityu"), clock)
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            event("p"),
            sender="cityu",
            correlation_id="p",
            clock=clock,
            causation_id=None,
        )
    await relay.drain()
    consumer = catalogue_consumer(
        engine, broker, clock, flaky, delivery_limit=3, retry=RetryPolicy(base=0.01, factor=2)
    )
    await consumer.start()
    await settle(broker)
    await consumer.stop()
    assert len(calls) == 3
    [dead] = broker.peek("catalog.items.dlq")
    assert "failed 3 times" in dead.headers["x-illfed-reason"]
    assert "disk full" in dead.headers["x-illfed-reason"]


async def test_a_stopped_consumer_gives_its_unacked_message_back(world):
    engine, broker, clock = world
    started = asyncio.Event()

    async def slow(conn, _ctx, env, payload):
        started.set()
        await asyncio.sleep(3600)

    relay = OutboxRelay(engine, outbox, broker.handle("cityu"), clock)
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            event("s"),
            sender="cityu",
            correlation_id="s",
            clock=clock,
            causation_id=None,
        )
    await relay.drain()
    first = catalogue_consumer(engine, broker, clock, slow)
    await first.start()
    await started.wait()
    await first.stop()
    second = catalogue_consumer(engine, broker, clock, bump)
    await second.start()
    await settle(broker)
    await second.stop()
    assert await applied(engine, "s") == 1


async def test_a_database_blip_is_ridden_out_with_growing_delays(world):
    engine, broker, clock = world
    loop = asyncio.get_running_loop()
    attempts: list[float] = []

    async def blip_then_ok(conn, _ctx, env, payload):
        attempts.append(loop.time())
        if len(attempts) <= 3:
            raise ConnectionError("database restarting")
        await bump(conn, _ctx, env, payload)

    relay = OutboxRelay(engine, outbox, broker.handle("cityu"), clock)
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            event("b"),
            sender="cityu",
            correlation_id="b",
            clock=clock,
            causation_id=None,
        )
    await relay.drain()
    consumer = catalogue_consumer(
        engine,
        broker,
        clock,
        blip_then_ok,
        delivery_limit=5,
        retry=RetryPolicy(base=0.02, factor=3),
    )
    await consumer.start()
    await settle(broker)
    await consumer.stop()
    assert await applied(engine, "b") == 1
    assert broker.peek("catalog.items.dlq") == []
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(gaps) == 3 and gaps[2] > gaps[0]


async def test_a_retry_header_from_another_login_does_not_vouch_for_a_sender(world):
    engine, broker, clock = world
    # cityu publishes a message claiming to be hkbu, with the header a retried copy carries.
    forged = json.dumps(
        {
            "message_id": "f-1",
            "type": "item.changed",
            "version": 1,
            "sender": "hkbu",
            "recipient": "*",
            "correlation_id": "f",
            "sent_at": "2026-01-05T02:00:00Z",
            "payload": event("f").model_dump(mode="json") | {"library": "hkbu"},
        }
    ).encode()
    await broker.handle("cityu").publish(
        "illfed.events",
        "item.changed",
        forged,
        message_id="f-1",
        headers={RETRY_USER_HEADER: "illfed-hkbu"},
    )
    consumer = catalogue_consumer(engine, broker, clock, bump)
    await consumer.start()
    await settle(broker)
    await consumer.stop()
    assert await applied(engine, "f") == 0
    [dead] = broker.peek("catalog.items.dlq")
    assert "does not match the authenticated broker user" in dead.headers["x-illfed-reason"]
