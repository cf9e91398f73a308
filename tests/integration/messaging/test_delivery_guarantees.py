"""The messaging guarantees on the real PostgreSQL and RabbitMQ: nothing published for a
rolled-back change, exactly-once effects under redelivery, dead letters with reasons, and no
loss when a consumer dies between commit and ack."""

from __future__ import annotations

import json
import uuid

import pytest

from libs.common.clock import ManualClock
from libs.common.db import unit_of_work
from libs.common.messaging import broker_password, principal_url
from libs.common.messaging.outbox import send
from libs.common.settings import DEV_SECRET
from tests.integration.messaging.harness import (
    QUEUE,
    Harness,
    admin_queue_messages,
    item_event,
    outbox,
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


async def test_a_rolled_back_change_publishes_nothing(harness):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with unit_of_work(harness.engine) as conn:
            await send(
                conn,
                outbox,
                item_event("rolled-back"),
                sender="cityu",
                correlation_id="item:rolled-back",
                clock=harness.clock,
                causation_id=None,
            )
            raise Boom

    assert await harness.relay.drain() == 0
    assert await admin_queue_messages(harness.admin_url, QUEUE, timeout=1.0) == []


async def test_a_committed_change_is_published_once_and_marked_sent(harness):
    await harness.emit("committed")
    assert await harness.unsent() == 1
    assert await harness.relay.drain() == 1
    assert await harness.unsent() == 0
    [msg] = await admin_queue_messages(harness.admin_url, QUEUE)
    body = json.loads(msg.body)
    assert body["type"] == "item.changed" and body["payload"]["item_id"] == "committed"
    assert msg.user_id == "illfed-cityu"  # stamped by the sender, validated by RabbitMQ


async def test_a_message_delivered_twice_changes_state_once(harness):
    await harness.emit("twice")
    # The relay publishes the same row again, as it would after dying before marking it sent.
    async with harness.engine.begin() as conn:
        await conn.execute(outbox.update().values(sent_at=None))
    await harness.relay.drain()
    async with harness.engine.begin() as conn:
        await conn.execute(outbox.update().values(sent_at=None))
    await harness.relay.drain()
    await harness.consumer.start()
    assert await harness.wait_applied("twice") == 1
    # Give the duplicate time to arrive and be absorbed.
    await harness.emit("after-duplicate")
    await harness.relay.drain()
    assert await harness.wait_applied("after-duplicate") == 1
    assert await harness.applied("twice") == 1


async def test_a_malformed_message_is_dead_lettered_with_reason_and_the_next_is_processed(
    harness,
):
    url = principal_url(harness.admin_url, "cityu", broker_password(DEV_SECRET, "cityu"))
    await publish_raw(url, b"{not json", message_id="garbage-1")
    await harness.emit("after-garbage")
    await harness.relay.drain()
    await harness.consumer.start()
    assert await harness.wait_applied("after-garbage") == 1
    dead = await admin_queue_messages(harness.admin_url, QUEUE + ".dlq")
    assert [m.message_id for m in dead] == ["garbage-1"]
    assert "malformed message" in dead[0].headers["x-illfed-reason"]
    assert dead[0].body == b"{not json"  # kept as received, so it can be inspected and replayed


async def test_a_message_claiming_another_sender_is_refused(harness):
    # Logged in as cityu but claiming to be hkbu: RabbitMQ vouches for the login, not the claim.
    url = principal_url(harness.admin_url, "cityu", broker_password(DEV_SECRET, "cityu"))
    env = {
        "message_id": str(uuid.uuid4()),
        "type": "item.changed",
        "version": 1,
        "sender": "hkbu",
        "recipient": "*",
        "correlation_id": "item:x",
        "sent_at": "2026-01-05T02:00:00Z",
        "payload": item_event("forged").model_dump(mode="json") | {"library": "hkbu"},
    }
    await publish_raw(url, json.dumps(env).encode(), message_id=env["message_id"])
    await harness.consumer.start()
    dead = await admin_queue_messages(harness.admin_url, QUEUE + ".dlq")
    assert "does not match the authenticated broker user" in dead[0].headers["x-illfed-reason"]
    assert await harness.applied("forged") == 0


async def test_a_consumer_stopped_between_commit_and_ack_loses_nothing(harness):
    crashed = []

    async def commit_then_die(conn, _ctx, env, payload):
        from tests.integration.messaging.harness import count_effect

        await count_effect(conn, _ctx, env, payload)
        crashed.append(env.message_id)

    first = harness.new_consumer(commit_then_die)
    real_handle = first.handle

    async def handle_and_crash_before_ack(delivery):
        async def no_ack():
            # The process dies after the commit: the channel goes away, no ack is sent.
            await first.stop()
            raise ConnectionError("consumer died before ack")

        delivery.ack = no_ack
        try:
            await real_handle(delivery)
        except ConnectionError:
            pass

    first.handle = handle_and_crash_before_ack
    await first.start()
    await harness.emit("crash")
    await harness.relay.drain()
    assert await harness.wait_applied("crash") == 1
    assert crashed  # the effect was committed before the crash

    # After a restart the message comes again, the inbox recognises it, and it is acked.
    await harness.consumer.start()
    await harness.emit("after-restart")
    await harness.relay.drain()
    assert await harness.wait_applied("after-restart") == 1
    assert await harness.applied("crash") == 1
    await harness.consumer.stop()
    assert await admin_queue_messages(harness.admin_url, QUEUE, timeout=0.5) == []


async def test_a_message_that_keeps_failing_is_parked_with_the_error(harness):
    async def always_fails(conn, _ctx, env, payload):
        raise RuntimeError("catalogue database refused the write")

    await harness.emit("poison")
    await harness.relay.drain()
    consumer = harness.new_consumer(always_fails)
    await consumer.start()
    dead = await admin_queue_messages(harness.admin_url, QUEUE + ".dlq", timeout=10)
    await consumer.stop()
    assert len(dead) == 1
    reason = dead[0].headers["x-illfed-reason"]
    assert "failed 3 times" in reason and "catalogue database refused the write" in reason
