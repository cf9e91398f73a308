"""A unit's /ready tells the truth about the bus: 503 while its connection to the broker is
down or a queue it reads has no live consumer, naming which; 200 again once both are back.
A lost and a restored consumer are each one structured log line."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from structlog.testing import capture_logs

from libs.common.auth import TokenIssuer
from libs.common.clock import ManualClock
from libs.common.messaging import connect_bus
from libs.common.service import ServiceRuntime, create_service_app
from libs.common.settings import DEV_SECRET
from tests.faults.conn_helpers import CuttableProxy, consumer_count, wait_until
from tests.integration.messaging.harness import QUEUE, Harness, purge

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


def ANY_SENDER(_sender: str) -> bool:
    return True  # these tests are about delivery, not about who may send


@pytest.fixture
async def through_proxy(rabbit_vhost, pg_database):
    """The catalogue's consumer, connected to the broker through a proxy that can be cut."""
    await purge(rabbit_vhost, QUEUE)
    proxy = await CuttableProxy.to(rabbit_vhost).start()
    h = Harness(proxy.url(rabbit_vhost), pg_database, ManualClock())
    await h.start()
    yield h, proxy
    await h.close()
    await proxy.stop()
    await purge(rabbit_vhost, QUEUE)


async def test_ready_is_503_naming_the_connection_and_the_queue_while_the_bus_is_cut(
    through_proxy,
):
    h, proxy = through_proxy
    runtime = ServiceRuntime("catalog", "catalog", h.engine, h.sub_bus, h.clock)
    runtime.consumers.append(h.consumer)
    app = create_service_app(
        runtime, title="t", description="t", tokens=TokenIssuer(DEV_SECRET, "catalog", h.clock)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog.test") as http:
        await runtime.start()
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "bus": "ok", f"consumer:{QUEUE}": "ok"}

        with capture_logs() as logs:
            proxy.cut()

            async def not_ready() -> bool:
                return (await http.get("/ready")).status_code == 503

            assert await wait_until(not_ready, timeout=10) is not None
            checks = (await http.get("/ready")).json()["checks"]
            assert checks["database"] == "ok"
            assert "catalog" in checks["bus"] and "down" in checks["bus"]
            assert QUEUE in checks[f"consumer:{QUEUE}"] and checks[f"consumer:{QUEUE}"] != "ok"

            proxy.restore()

            async def ready_again() -> bool:
                return (await http.get("/ready")).status_code == 200

            assert await wait_until(ready_again, timeout=15) is not None
        await runtime.stop()

    lost = [e for e in logs if e["event"] == "consumer lost" and e.get("queue") == QUEUE]
    back = [e for e in logs if e["event"] == "consumer restored" and e.get("queue") == QUEUE]
    assert len(lost) == 1 and len(back) == 1
    assert lost[0]["log_level"] == "warning"
    # After the outage the consumer processes again.
    await h.consumer.start()
    await h.emit("after-outage")
    await h.relay.drain()
    assert await h.wait_applied("after-outage") == 1


async def test_the_in_process_bus_answers_ready_for_its_consumers(tmp_path):
    from deploy.queues import federation_queues
    from libs.common.db import make_engine, sqlite_url
    from libs.common.federation import default_federation
    from libs.common.messaging.memory import MemoryBroker
    from tests.integration.messaging.harness import inbox, metadata

    broker = MemoryBroker()
    broker.declare(federation_queues(default_federation()))
    engine = make_engine(sqlite_url(tmp_path / "c.db"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    bus = await connect_bus("memory", "catalog", DEV_SECRET, broker)
    from libs.common.messaging.consumer import Consumer

    clock = ManualClock()
    runtime = ServiceRuntime("catalog", "catalog", engine, bus, clock)
    runtime.consumers.append(
        Consumer("c", QUEUE, engine, inbox, bus, clock, {}, allowed_senders=ANY_SENDER)
    )
    await runtime.start()
    assert await runtime.readiness() == {
        "database": "ok",
        "bus": "ok",
        f"consumer:{QUEUE}": "ok",
    }
    await runtime.close()


async def test_a_consumer_stopped_while_the_bus_is_cut_does_not_come_back(through_proxy):
    h, proxy = through_proxy
    await h.consumer.start()
    proxy.cut()

    async def down() -> bool:
        return not await h.sub_bus.ping()

    assert await wait_until(down, timeout=10) is not None
    await h.consumer.stop()
    proxy.restore()

    async def up() -> bool:
        return await h.sub_bus.ping()

    assert await wait_until(up, timeout=15) is not None
    await asyncio.sleep(1.0)
    assert await consumer_count(h.admin_url, QUEUE) == 0
