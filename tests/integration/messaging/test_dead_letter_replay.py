"""An operator replays a parked dead letter on the real RabbitMQ and PostgreSQL: the broker
service parks it under the library that published it (not the consumer that gave up on it),
the replay is processed once, and a forged message stays refused however often it is
replayed."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from libs.common.auth import client_secret
from libs.common.clock import ManualClock
from libs.common.db import drop_database, pg_url
from libs.common.federation import default_federation
from libs.common.messaging import broker_password, connect_bus, principal_url
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.requests.app import create_app
from services.requests.runtime import build_runtime
from tests.integration.messaging.harness import (
    QUEUE,
    Harness,
    count_effect,
    item_event,
    publish_raw,
    purge,
)

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


@pytest.fixture
async def harness(rabbit_vhost, pg_database):
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq")
    h = await Harness(rabbit_vhost, pg_database, ManualClock()).start()
    yield h
    await h.close()
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq")


@pytest.fixture
async def broker_service(rabbit_vhost):
    """The request broker, as its own broker login, parking every dead-letter queue."""
    url = pg_url(f"illfed_test_{uuid.uuid4().hex[:10]}")
    await upgrade("requests", url)
    fed = default_federation()
    bus = await connect_bus(rabbit_vhost, "requests", DEV_SECRET)
    rt = build_runtime(fed, url, bus, ManualClock())
    await rt.start()
    app = create_app(rt, fed, DEV_SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://requests.test"
    ) as client:
        res = await client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "operator",
                "client_secret": client_secret(DEV_SECRET, "operator"),
            },
        )
        client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
        yield client
    await rt.close()
    await bus.close()
    await drop_database(url)


async def wait_parked(client: httpx.AsyncClient, message_id: str, times: int = 1) -> dict:
    for _ in range(200):
        res = await client.get("/api/v1/dead-letters", params={"queue": QUEUE})
        for item in res.json()["items"]:
            if item["message_id"] == message_id and item["times"] >= times:
                return item
        await asyncio.sleep(0.05)
    raise AssertionError(f"{message_id} was not parked (times={times})")


async def test_a_parked_message_replayed_after_a_fix_is_processed_once(harness, broker_service):
    fixed = asyncio.Event()

    async def fails_until_fixed(conn, _ctx, env, payload):
        if not fixed.is_set():
            raise RuntimeError("catalogue table is locked for maintenance")
        await count_effect(conn, _ctx, env, payload)

    message_id = await harness.emit("replayed")
    await harness.relay.drain()
    consumer = harness.new_consumer(fails_until_fixed)
    await consumer.start()
    try:
        parked = await wait_parked(broker_service, message_id)
        assert parked["original_user"] == "illfed-cityu"  # the library, not the catalogue
        assert "catalogue table is locked" in parked["reason"]

        fixed.set()
        res = await broker_service.post(f"/api/v1/dead-letters/{parked['id']}/replay")
        assert res.status_code == 200, res.text
        assert await harness.wait_applied("replayed") == 1

        # Nothing came back as a forgery, and the replay is not applied a second time.
        await asyncio.sleep(0.5)
        res = await broker_service.get("/api/v1/dead-letters", params={"queue": QUEUE})
        assert res.json()["items"] == []
        assert await harness.applied("replayed") == 1
    finally:
        await consumer.stop()


async def test_a_replay_that_fails_again_can_be_replayed_once_more(harness, broker_service):
    failures = 0

    async def fails_twice_over(conn, _ctx, env, payload):
        nonlocal failures
        failures += 1
        if failures <= 6:  # the first delivery round and the first replay's round
            raise RuntimeError("still broken")
        await count_effect(conn, _ctx, env, payload)

    message_id = await harness.emit("twice-replayed")
    await harness.relay.drain()
    consumer = harness.new_consumer(fails_twice_over)
    await consumer.start()
    try:
        parked = await wait_parked(broker_service, message_id)
        await broker_service.post(f"/api/v1/dead-letters/{parked['id']}/replay")
        again = await wait_parked(broker_service, message_id, times=2)
        assert again["original_user"] == "illfed-cityu"  # still the library, not the replayer
        assert "still broken" in again["reason"]
        res = await broker_service.post(f"/api/v1/dead-letters/{again['id']}/replay")
        assert res.status_code == 200, res.text
        assert await harness.wait_applied("twice-replayed") == 1
    finally:
        await consumer.stop()


async def test_a_forged_message_stays_refused_after_replay(harness, broker_service):
    # cityu's login, hkbu's name on the envelope, and a header claiming hkbu published it.
    url = principal_url(harness.admin_url, "cityu", broker_password(DEV_SECRET, "cityu"))
    env = {
        "message_id": str(uuid.uuid4()),
        "type": "item.changed",
        "version": 1,
        "sender": "hkbu",
        "recipient": "*",
        "correlation_id": "item:forged",
        "sent_at": "2026-01-05T02:00:00Z",
        "payload": item_event("forged").model_dump(mode="json") | {"library": "hkbu"},
    }
    await publish_raw(
        url,
        json.dumps(env).encode(),
        message_id=env["message_id"],
        headers={"x-illfed-original-user": "illfed-hkbu"},
    )
    await harness.consumer.start()
    parked = await wait_parked(broker_service, env["message_id"])
    assert parked["original_user"] == "illfed-cityu"
    res = await broker_service.post(f"/api/v1/dead-letters/{parked['id']}/replay")
    assert res.status_code == 200
    again = await wait_parked(broker_service, env["message_id"], times=2)
    assert "does not match the authenticated broker user" in again["reason"]
    assert again["original_user"] == "illfed-cityu"
    assert await harness.applied("forged") == 0


async def test_a_library_cannot_name_the_original_sender_of_a_dead_letter(harness, broker_service):
    # A library may publish to the dead-letter exchange; what it says there is not believed.
    url = principal_url(harness.admin_url, "cityu", broker_password(DEV_SECRET, "cityu"))
    message_id = str(uuid.uuid4())
    body = {
        "message_id": message_id,
        "type": "item.changed",
        "version": 1,
        "sender": "hkbu",
        "recipient": "*",
        "correlation_id": "item:planted",
        "sent_at": "2026-01-05T02:00:00Z",
        "payload": item_event("planted").model_dump(mode="json") | {"library": "hkbu"},
    }
    await publish_raw(
        url,
        json.dumps(body).encode(),
        message_id=message_id,
        exchange="illfed.dlx",
        routing_key=QUEUE + ".dlq",
        headers={"x-illfed-original-user": "illfed-hkbu", "x-illfed-queue": QUEUE},
    )
    parked = await wait_parked(broker_service, message_id)
    assert parked["original_user"] == "illfed-cityu"
    await harness.consumer.start()
    await broker_service.post(f"/api/v1/dead-letters/{parked['id']}/replay")
    again = await wait_parked(broker_service, message_id, times=2)
    assert "does not match the authenticated broker user" in again["reason"]
    assert await harness.applied("planted") == 0
