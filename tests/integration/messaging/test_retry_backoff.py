"""A handler that fails is retried after growing delays (through the queue's retry queue on
RabbitMQ), so a database blip is ridden out instead of dead-lettering every message in
flight; a message that keeps failing is still parked with the reason after the limit; the
retried copy is still checked against the login that first sent it."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

import pytest

from libs.common.clock import ManualClock
from libs.common.messaging import broker_password, principal_url
from libs.common.messaging.retry import RETRY_USER_HEADER
from libs.common.settings import DEV_SECRET
from tests.integration.messaging.harness import (
    QUEUE,
    Harness,
    admin_queue_messages,
    count_effect,
    item_event,
    publish_raw,
    purge,
)

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


@pytest.fixture
async def harness(rabbit_vhost, pg_database):
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq", QUEUE + ".retry")
    h = await Harness(rabbit_vhost, pg_database, ManualClock()).start()
    yield h
    await h.close()
    await purge(rabbit_vhost, QUEUE, QUEUE + ".dlq", QUEUE + ".retry")


async def test_a_database_blip_is_ridden_out_with_growing_delays(harness):
    loop = asyncio.get_running_loop()
    attempts: list[float] = []

    async def blip_then_ok(conn, _ctx, env, payload):
        attempts.append(loop.time())
        if len(attempts) <= 3:
            raise ConnectionError("the database is restarting")
        await count_effect(conn, _ctx, env, payload)

    harness.consumer = harness.new_consumer(blip_then_ok)
    harness.consumer.delivery_limit = 5
    await harness.emit("blip")
    await harness.relay.drain()
    await harness.consumer.start()
    assert await harness.wait_applied("blip", timeout=20) == 1
    # Each retry came back from the retry queue stamped with the catalogue's own login, and
    # was still accepted as cityu's: the original login travelled with it.
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[2] > gaps[0], gaps
    assert await admin_queue_messages(harness.admin_url, QUEUE + ".dlq", timeout=0.5) == []


async def test_a_message_that_keeps_failing_is_parked_after_the_limit_with_the_reason(harness):
    calls = []

    async def always_fails(conn, _ctx, env, payload):
        calls.append(1)
        raise RuntimeError("catalogue database refused the write")

    harness.consumer = harness.new_consumer(always_fails)
    await harness.emit("poison")
    await harness.relay.drain()
    await harness.consumer.start()
    dead = await admin_queue_messages(harness.admin_url, QUEUE + ".dlq", timeout=15)
    assert len(dead) == 1 and len(calls) == 3
    reason = dead[0].headers["x-illfed-reason"]
    assert "failed 3 times" in reason and "catalogue database refused the write" in reason


async def test_a_library_cannot_vouch_for_another_sender_with_the_retry_header(harness):
    url = principal_url(harness.admin_url, "cityu", broker_password(DEV_SECRET, "cityu"))
    env = {
        "message_id": str(uuid.uuid4()),
        "type": "item.changed",
        "version": 1,
        "sender": "hkbu",
        "recipient": "*",
        "correlation_id": "item:x",
        "sent_at": "2026-01-05T02:00:00Z",
        "payload": item_event("forged-retry").model_dump(mode="json") | {"library": "hkbu"},
    }
    await publish_raw(
        url,
        json.dumps(env).encode(),
        message_id=env["message_id"],
        headers={RETRY_USER_HEADER: "illfed-hkbu"},
    )
    await harness.consumer.start()
    dead = await admin_queue_messages(harness.admin_url, QUEUE + ".dlq")
    assert "does not match the authenticated broker user" in dead[0].headers["x-illfed-reason"]
    assert await harness.applied("forged-retry") == 0
