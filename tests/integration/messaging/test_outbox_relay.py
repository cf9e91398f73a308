"""The outbox relay on PostgreSQL holds no transaction while it waits for the broker: the
rows it is publishing stay writable, a second relay on the same database takes other rows
(never the same ones), and every row goes out once, in id order."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import MetaData, select, text, update

from libs.common.clock import ManualClock
from libs.common.db import make_engine, unit_of_work
from libs.common.ill.sequence import next_seq
from libs.common.ill.sequence_tables import sequence_tables
from libs.common.messaging.outbox import HANDOFF_LEASE, OutboxRelay, enqueue_raw, send
from tests.integration.messaging.harness import item_event, metadata, outbox

pytestmark = [pytest.mark.pg]


class GatedBus:
    """Records what it is asked to publish; holds the confirms until the gate opens."""

    principal = "cityu"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.published: list[str] = []

    async def publish(self, exchange, routing_key, body, *, message_id, **_):
        self.waiting.set()
        await self.gate.wait()
        self.published.append(message_id)


@pytest.fixture
async def engine(pg_database):
    engine = make_engine(pg_database)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _send(conn, clock, item: str):
    return await send(
        conn,
        outbox,
        item_event(item),
        sender="cityu",
        correlation_id="c",
        clock=clock,
        causation_id=None,
    )


async def emit(engine, clock, n: int) -> list[str]:
    ids = []
    for i in range(n):
        async with unit_of_work(engine) as conn:
            env = await _send(conn, clock, f"i{i}")
        ids.append(env.message_id)
    return ids


async def test_rows_being_published_are_not_locked_and_a_second_relay_skips_them(engine):
    clock = ManualClock()
    ids = await emit(engine, clock, 5)
    slow, other = GatedBus(), GatedBus()
    other.gate.set()
    first = OutboxRelay(engine, outbox, slow, clock, batch_size=3)
    second = OutboxRelay(engine, outbox, other, clock, batch_size=10)
    publishing = asyncio.create_task(first.run_once())
    await asyncio.wait_for(slow.waiting.wait(), 10)

    # While the broker has not confirmed, the claimed rows can be written without waiting.
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        await conn.execute(update(outbox).where(outbox.c.id == 1).values(last_error=None))
    # A second relay publishes the rest, never the rows the first one is publishing.
    assert await second.run_once() == 2
    assert other.published == ids[3:]

    slow.gate.set()
    assert await publishing == 3
    assert slow.published == ids[:3]
    assert await second.run_once() == 0 and await first.run_once() == 0
    async with engine.connect() as conn:
        unsent = (await conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)))).all()
    assert unsent == []


async def test_a_failed_publish_gives_the_rows_back_for_the_next_pass(engine):
    clock = ManualClock()
    ids = await emit(engine, clock, 2)

    class DownBus(GatedBus):
        async def publish(self, exchange, routing_key, body, *, message_id, **_):
            raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await OutboxRelay(engine, outbox, DownBus(), clock).run_once()
    bus = GatedBus()
    bus.gate.set()
    assert await OutboxRelay(engine, outbox, bus, clock).run_once() == 2
    assert bus.published == ids


async def test_the_running_relay_marks_a_burst_sent_once_it_goes_quiet_and_nothing_twice(engine):
    """While commits keep coming the running relay writes several batches' sent marks in one
    statement; no row is published twice meanwhile and none stays unmarked once it is
    quiet."""
    clock = ManualClock()
    bus, other = GatedBus(), GatedBus()
    bus.gate.set()
    relay = OutboxRelay(engine, outbox, bus, clock, batch_size=5, poll_interval=0.2)
    relay.start()
    try:
        ids = []
        for _ in range(6):  # bursts of commits, each waking the relay
            ids += await emit(engine, clock, 4)
            await asyncio.sleep(0.005)
        for _ in range(100):
            async with engine.connect() as conn:
                unsent = (
                    await conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)))
                ).all()
            if not unsent and len(bus.published) + len(other.published) == len(ids):
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert unsent == []
    assert sorted(bus.published + other.published) == sorted(ids)  # each once


async def test_published_rows_waiting_for_their_sent_mark_stay_claimed(engine):
    clock = ManualClock()
    ids = await emit(engine, clock, 3)
    bus, other = GatedBus(), GatedBus()
    bus.gate.set()
    other.gate.set()
    relay = OutboxRelay(engine, outbox, bus, clock)
    assert await relay.run_once(defer_sent=True) == 3
    # Published, not marked sent yet: a second relay (or the next pass) leaves them alone.
    assert await OutboxRelay(engine, outbox, other, clock).run_once() == 0
    assert await relay.run_once(defer_sent=True) == 0
    async with engine.connect() as conn:
        unsent = (await conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)))).all()
    assert len(unsent) == 3
    await relay.stop()  # writes the marks it holds
    async with engine.connect() as conn:
        unsent = (await conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)))).all()
    assert unsent == [] and bus.published == ids and other.published == []


async def test_a_relay_woken_as_it_is_stopped_stops(engine):
    """A commit's wake-up and the stop arriving together must not keep the relay running
    (on Python 3.11 a wait_for ending then swallows the cancellation, and stop would hang)."""
    bus = GatedBus()
    bus.gate.set()
    for _ in range(3):
        relay = OutboxRelay(engine, outbox, bus, ManualClock(), poll_interval=30)
        relay.start()
        await asyncio.sleep(0.2)  # idle, waiting for a commit
        relay.wake()
        stopping = asyncio.create_task(relay.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)  # it would wait its 30 s poll
        assert stopping in done, "the relay went on running after it was stopped"


async def test_a_running_relay_is_handed_what_commits_and_another_takes_it_if_that_process_dies(
    engine,
):
    """The running relay publishes what its process commits without claiming it first: the
    row is written claimed for it. Should that process die before publishing it (here: its
    broker never confirms), any relay on the database takes it once the hand-off's lease is
    over; a rolled-back unit of work hands nothing over."""
    clock = ManualClock()
    stuck, other = GatedBus(), GatedBus()
    other.gate.set()
    relay = OutboxRelay(engine, outbox, stuck, clock, poll_interval=30)
    relay.start()
    try:
        await asyncio.sleep(0.1)  # its first pass found the table empty
        [message] = await emit(engine, clock, 1)
        await asyncio.wait_for(stuck.waiting.wait(), 10)  # handed over at commit
        with pytest.raises(RuntimeError):
            async with unit_of_work(engine) as conn:
                await _send(conn, clock, "rolled-back")
                raise RuntimeError("the change is refused")
        second = OutboxRelay(engine, outbox, other, clock)
        assert await second.run_once() == 0  # it is the running relay's
        clock.advance(seconds=HANDOFF_LEASE + 1)
        assert await second.run_once() == 1
        assert other.published == [message]
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.message_id))).all()
        assert [r.message_id for r in rows] == [message]  # nothing of the rolled-back one
    finally:
        stuck.gate.set()
        await relay.stop()


async def test_rows_handed_over_with_another_statement_go_out_once_each_and_are_marked_sent(
    engine,
):
    """A unit of work's outbox rows wait for its next statement that takes rows along (here
    the ILL sequence's bump of the message a step sends) or for its commit, and come back
    with their ids: every row, a replayed dead letter's two copies under one message id too,
    is published once by the running relay, in the order written, and marked sent."""
    seq_metadata = MetaData()
    seq = sequence_tables(seq_metadata)
    async with engine.begin() as conn:
        await conn.run_sync(seq_metadata.create_all)
    clock = ManualClock()
    bus = GatedBus()
    bus.gate.set()
    relay = OutboxRelay(engine, outbox, bus, clock, poll_interval=30)
    relay.start()
    try:
        await asyncio.sleep(0.1)  # its first pass found the table empty
        async with unit_of_work(engine) as conn:
            first = (await _send(conn, clock, "a")).message_id
            for _ in range(2):
                await enqueue_raw(
                    conn,
                    outbox,
                    "{}",
                    message_id="replayed",
                    exchange="illfed.events",
                    routing_key="item.changed",
                    created_at=clock.now(),
                )
            assert await next_seq(conn, seq, "t1", "requests") == 1
            last = (await _send(conn, clock, "b")).message_id  # written at the commit
        for _ in range(100):
            if len(bus.published) == 4:
                break
            await asyncio.sleep(0.05)
        assert bus.published == [first, "replayed", "replayed", last]
    finally:
        await relay.stop()  # writes the marks it holds
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.message_id, outbox.c.sent_at))).all()
    assert sorted(r.message_id for r in rows) == sorted([first, "replayed", "replayed", last])
    assert all(r.sent_at is not None for r in rows)
