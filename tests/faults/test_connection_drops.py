"""Fault: RabbitMQ drops every connection of the test's virtual host several times while a
stream of changes goes through a service's outbox, the relay, RabbitMQ and a consumer.

Afterwards the source of truth (what was committed with its outbox row) and the consumer's
state agree: nothing lost, nothing applied twice, and after each drop the consumer was back
within 10 seconds."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from libs.common.clock import ManualClock
from libs.common.db import unit_of_work
from libs.common.messaging.outbox import send
from tests.faults.conn_helpers import consumer_count, drop_connections, wait_until
from tests.integration.messaging.harness import (
    QUEUE,
    Harness,
    admin_queue_messages,
    effects,
    inbox,
    item_event,
    outbox,
    purge,
)

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]

CHANGES = 300
DROPS = 3


@pytest.fixture
async def harness(rabbit_vhost, pg_database):
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq", QUEUE + ".retry")
    h = await Harness(rabbit_vhost, pg_database, ManualClock()).start()
    h.relay.poll_interval = 0.2
    yield h
    await h.relay.stop()
    await h.close()
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq", QUEUE + ".retry")


async def test_nothing_is_lost_or_applied_twice_while_the_broker_drops_connections(harness):
    h = harness
    await h.consumer.start()
    h.relay.start()

    async def produce() -> list[str]:
        items = []
        for start in range(0, CHANGES, 10):
            # Ten changes per transaction, each with its outbox row, as a busy desk makes.
            async with unit_of_work(h.engine) as conn:
                for n in range(start, start + 10):
                    item = f"stream-{n}"
                    await send(
                        conn,
                        outbox,
                        item_event(item),
                        sender="cityu",
                        correlation_id=f"item:{item}",
                        clock=h.clock,
                        causation_id=None,
                    )
                    items.append(item)
            await asyncio.sleep(0.1)
        return items

    async def lost() -> bool:
        return not h.consumer.live

    async def consuming() -> bool:
        # Live means the broker acknowledged the consumer again on a new channel.
        return h.consumer.live

    async def drop_repeatedly() -> list[float | None]:
        back_after = []
        for _ in range(DROPS):
            await asyncio.sleep(0.5)
            drop = asyncio.create_task(drop_connections(h.admin_url))
            # From the moment the client sees its consumer gone until it is back.
            assert await wait_until(lost, timeout=20, every=0.005) is not None
            back_after.append(await wait_until(consuming, timeout=10, every=0.01))
            await drop
        return back_after

    items, back_after = await asyncio.gather(produce(), drop_repeatedly())
    assert None not in back_after, f"a consumer was not back within 10 s: {back_after}"

    async def all_applied() -> bool:
        async with h.engine.connect() as conn:
            done = (await conn.execute(select(func.count()).select_from(effects))).scalar()
        return done == CHANGES and await h.unsent() == 0

    assert await wait_until(all_applied, timeout=30, every=0.2) is not None
    async with h.engine.connect() as conn:
        applied = dict((await conn.execute(select(effects.c.item_id, effects.c.applied))).all())
        processed = (await conn.execute(select(func.count()).select_from(inbox))).scalar()
    missing = [i for i in items if i not in applied]
    twice = {i: n for i, n in applied.items() if n != 1}
    assert missing == [] and twice == {}
    assert processed == CHANGES
    # The broker counts the consumer again once the client's last reconnect is through (a
    # drop still closing connections may have caught the first one back).

    async def one_consumer() -> bool:
        return await consumer_count(h.admin_url, QUEUE) == 1

    assert await wait_until(one_consumer, timeout=10, every=0.2) is not None
    assert await admin_queue_messages(h.admin_url, QUEUE + ".dlq", timeout=0.2) == []
