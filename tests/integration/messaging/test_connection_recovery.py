"""When the broker drops a service's connection (a node restart, a network cut, an operator
forcing clients off), the service reconnects by itself: its consumers come back and keep
processing, and what the outbox published meanwhile arrives, once."""

from __future__ import annotations

import pytest

from libs.common.clock import ManualClock
from tests.faults.conn_helpers import consumer_count, drop_connections, wait_until
from tests.integration.messaging.harness import QUEUE, Harness, purge

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


@pytest.fixture
async def harness(rabbit_vhost, pg_database):
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq")
    h = await Harness(rabbit_vhost, pg_database, ManualClock()).start()
    yield h
    await h.close()
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq")


async def test_consumers_and_the_publisher_come_back_after_the_broker_drops_them(harness):
    await harness.consumer.start()
    await harness.emit("before")
    await harness.relay.drain()
    assert await harness.wait_applied("before") == 1

    await drop_connections(harness.admin_url)

    async def consuming() -> bool:
        return await consumer_count(harness.admin_url, QUEUE) == 1

    assert await wait_until(consuming, timeout=10) is not None, "no consumer came back"
    # The relay's publishing channel (with confirms) came back too.
    await harness.emit("after")

    async def relayed() -> bool:
        try:
            await harness.relay.drain()
        except Exception:
            return False
        return True

    assert await wait_until(relayed, timeout=10) is not None
    assert await harness.wait_applied("after") == 1
    assert await harness.applied("before") == 1
