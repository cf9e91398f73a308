"""Transactional outbox: a state change and the messages it must send are written in one
database transaction; the relay publishes them afterwards and marks them sent.

Nothing is published for a rolled-back change (the row never existed) and nothing committed is
left unpublished (the relay retries until the broker confirms). A message may be published
twice if the relay dies between the confirm and marking it sent; consumers' inboxes absorb it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import structlog
from pydantic import BaseModel
from sqlalchemy import BigInteger, Table, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common import appends, hot_sql
from libs.common.clock import Clock
from libs.common.contracts import Envelope, contract_of
from libs.common.contracts.registry import kind_of, type_of
from libs.common.db import (
    OUTBOX_HANDOFF,
    OUTBOX_WRITTEN,
    Handoff,
    any_of,
    hand_outbox_to,
    make_engine,
    on_outbox_commit,
    unit_state,
)
from libs.common.messaging.delivery import Bus
from libs.common.messaging.topology import DIRECT, EVENTS

log = structlog.get_logger("illfed.outbox")

#: Fault tests name a file here; once it exists, the relay's process dies right after the
#: broker confirmed its next batch, before marking it sent (when a message can go out twice).
DIE_AFTER_CONFIRM = "ILLFED_FAULT_RELAY_DIE_AFTER_CONFIRM"


def make_envelope(
    payload: BaseModel,
    *,
    sender: str,
    correlation_id: str,
    clock: Clock,
    recipient: str = "*",
    causation_id: str | None = None,
) -> Envelope:
    type_name, version = contract_of(payload)
    return Envelope(
        type=type_name,
        version=version,
        sender=sender,
        recipient=recipient,
        correlation_id=correlation_id,
        causation_id=causation_id,
        sent_at=clock.now(),
        payload=payload.model_dump(mode="json"),
    )


async def enqueue(
    conn: AsyncConnection, outbox: Table, envelope: Envelope, *, exchange: str, routing_key: str
) -> Envelope:
    """Add a message to the outbox inside the caller's transaction."""
    await enqueue_raw(
        conn,
        outbox,
        envelope.model_dump_json(),
        message_id=envelope.message_id,
        exchange=exchange,
        routing_key=routing_key,
        correlation_id=envelope.correlation_id,
        created_at=envelope.sent_at,
    )
    return envelope


async def enqueue_raw(
    conn: AsyncConnection,
    outbox: Table,
    body: str,
    *,
    message_id: str,
    exchange: str,
    routing_key: str,
    created_at: datetime,
    correlation_id: str | None = None,
    headers: dict | None = None,
) -> None:
    """Add an already-serialised message (a dead letter being replayed) to the outbox."""
    values: dict[str, Any] = {
        "message_id": message_id,
        "exchange": exchange,
        "routing_key": routing_key,
        "correlation_id": correlation_id,
        "body": body,
        "headers": headers,
        "created_at": created_at,
    }
    state = unit_state(conn)
    handoff: Handoff | None = state.get(OUTBOX_HANDOFF) if state is not None else None
    if handoff is None:
        await hot_sql.run(conn, ("outbox insert", outbox), lambda _: insert(outbox), values)
        conn.info[OUTBOX_WRITTEN] = True
        return
    # Written claimed, for this process's relay to publish after the commit (no claim
    # statement).
    values.update(claimed_at=handoff.claimed_at, attempts=1)
    pending = Pending(0, message_id, exchange, routing_key, correlation_id, body, headers)
    if conn.dialect.name == "postgresql":
        # With the unit of work's next statement that takes rows along, or just before it
        # commits, the id coming back with it (one round trip less for most messages).
        handoff.waiting.append(pending)
        await appends.append(conn, outbox, values, returned=_ids_to(handoff))
        return
    row_id = (
        await hot_sql.run(
            conn,
            ("outbox insert handed", outbox),
            lambda _: insert(outbox).returning(outbox.c.id),
            values,
        )
    ).scalar_one()
    handoff.rows.append(pending._replace(id=row_id))


def _ids_to(handoff: Handoff) -> appends.Returned:
    """The ids the database gave the handed rows written along another statement, matched
    to them by message id, exchange and routing key (the rows come back in no particular
    order). Rows alike in all three (a dead letter replayed twice in one transaction) are
    the same message to the same queue, so which of them gets which id does not matter."""

    def hear(written: list[tuple]) -> None:
        ids: dict[tuple[str, str, str], list[int]] = {}
        for row_id, *names in sorted((int(w[0]), *w[1:]) for w in written):
            ids.setdefault(tuple(names), []).append(row_id)
        still = []
        for row in handoff.waiting:
            found = ids.get((row.message_id, row.exchange, row.routing_key))
            if found:
                handoff.rows.append(row._replace(id=found.pop(0)))
            else:
                still.append(row)
        handoff.waiting = still

    return appends.Returned(("id", "message_id", "exchange", "routing_key"), hear)


class Pending(NamedTuple):
    """An outbox row the relay is to publish: claimed by it, or handed to it at commit."""

    id: int
    message_id: str
    exchange: str
    routing_key: str
    correlation_id: str | None
    body: str
    headers: dict | None


async def send(
    conn: AsyncConnection,
    outbox: Table,
    payload: BaseModel,
    *,
    sender: str,
    correlation_id: str,
    causation_id: str | None,
    clock: Clock,
    recipient: str | None = None,
) -> Envelope:
    """Write one message to the outbox inside the caller's transaction.

    The contract's kind picks the way: an event is broadcast on the events exchange keyed by
    its type (no ``recipient``); a command goes to one bus address (``recipient``: requests,
    notifier, circulation.<library>). ``causation_id`` is the message that caused this one (a
    consumer passes the incoming message's id), or None for a staff, patron or job action: it
    is never left out by accident.
    """
    kind = kind_of(payload)
    if kind == "event" and recipient is not None:
        raise ValueError(f"{type_of(payload)} is an event: it is broadcast, not addressed")
    if kind == "command" and not recipient:
        raise ValueError(f"{type_of(payload)} is a command: it needs a recipient")
    env = make_envelope(
        payload,
        sender=sender,
        correlation_id=correlation_id,
        clock=clock,
        recipient=recipient or "*",
        causation_id=causation_id,
    )
    if kind == "event":
        return await enqueue(conn, outbox, env, exchange=EVENTS, routing_key=env.type)
    return await enqueue(conn, outbox, env, exchange=DIRECT, routing_key=env.recipient)


#: seconds the running relay may keep published rows without their sent mark while it is busy
SETTLE_WITHIN = 0.5
#: seconds without a commit after which the running relay writes the sent marks it holds: a
#: library's steps come a fraction of a second apart while it is busy, and each mark written
#: on its own is a statement for the database; the rows stay claimed meanwhile, so no relay
#: takes them (measured under the ILL load: a mark for every 1-3 messages at 20 ms, for
#: every 10-30 at 250 ms)
SETTLE_IDLE = 0.25
#: seconds a row handed to the running relay at commit stays its own: should the process die
#: before publishing it, any relay on the database takes it after that
HANDOFF_LEASE = 5.0


class OutboxRelay:
    """Publishes committed outbox rows in id order, with publisher confirms, then marks them
    sent.

    No database transaction stays open while the broker confirms: one statement claims a
    batch (``claimed_at``; on PostgreSQL with SKIP LOCKED, so several relays on one database
    take different rows), the batch is published, and one more marks what the broker
    confirmed as sent and gives the rest back (a round trip each on PostgreSQL). A claim
    older than ``claim_lease`` seconds (its relay died mid-batch) is taken again: that batch
    may go out twice, and the consumers' inboxes absorb it.

    While commits keep coming, the running relay writes the sent marks of several batches in
    one statement (at most ``SETTLE_WITHIN`` seconds or a batch's worth later, at once when
    it falls idle): the claim keeps those rows from every relay meanwhile, so the delay only
    widens the window a relay dying mid-batch already has.

    While it runs, the rows a unit of work of its own process writes are handed to it as the
    transaction commits (:class:`libs.common.db.Handoff`): written already claimed, they are
    published without a claim statement, and a row whose process died before publishing it
    is taken by any relay ``HANDOFF_LEASE`` seconds later. The claim statement still runs
    every ``poll_interval`` seconds and for commits not handed over, for the rows of other
    processes and those given back."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        bus: Bus,
        clock: Clock,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        claim_lease: float = 30.0,
    ) -> None:
        self.engine, self.outbox, self.bus, self.clock = engine, outbox, bus, clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.claim_lease = timedelta(seconds=claim_lease)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._die_flag = os.environ.get(DIE_AFTER_CONFIRM)
        self._unsettled: list[int] = []  # published by the running relay, not marked sent yet
        self._unsettled_since = 0.0
        self._handed: list[Pending] = []  # committed, handed to the running relay
        self._poll_asked = True  # the next pass claims from the table (first pass, a wake)
        self._polled = 0.0  # when the running relay last claimed from the table (monotonic)
        # On PostgreSQL the relay's statements run on a connection of its own, each its own
        # transaction, committed without waiting for the disk: a claim or a sent mark lost in
        # a server crash only means the rows are published again, and the consumers' inboxes
        # absorb that (as they absorb a relay dying between the confirm and the mark).
        self._own_engine = (
            None
            if engine.dialect.name == "sqlite"
            else make_engine(
                engine.url.render_as_string(hide_password=False),
                pool_size=1,
                wait_for_flush=False,
                generic_plans=True,  # claims and marks by id
            )
        )
        self._autocommit = (
            None
            if self._own_engine is None
            else self._own_engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        on_outbox_commit(engine, self.wake)
        hand_outbox_to(engine, self)

    def wake(self) -> None:
        """A commit wrote rows this relay was not handed: the next pass claims them."""
        self._poll_asked = True
        self._wake.set()

    def accepting(self) -> bool:
        """Whether units of work may hand their rows over: only while the relay runs."""
        return self._task is not None and not self._task.done()

    def handoff(self) -> Handoff:
        # Claimed as if HANDOFF_LEASE seconds were left of a claim's lease.
        return Handoff(self.clock.now() - self.claim_lease + timedelta(seconds=HANDOFF_LEASE))

    def take(self, rows: list[Pending]) -> None:
        """The committed rows of a unit of work, published on the next pass."""
        self._handed += rows
        self._wake.set()

    @contextlib.asynccontextmanager
    async def _statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one statement that is its own transaction: on PostgreSQL in
        autocommit (no BEGIN and COMMIT round trips around it), on SQLite in a transaction
        (which takes the database's write lock up front)."""
        engine = self._autocommit if self._autocommit is not None else self.engine
        async with engine.begin() as conn:
            yield conn

    def _claim_statement(self, conn: AsyncConnection):
        t = self.outbox
        # One statement picks the batch (skipping rows another relay has locked) and claims
        # it; its rows come back in no particular order, and are published in id order.
        pick = (
            select(t.c.id)
            .where(
                t.c.sent_at.is_(None),
                or_(t.c.claimed_at.is_(None), t.c.claimed_at < bindparam("stale")),
            )
            .order_by(t.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        return (
            update(t)
            .where(t.c.id.in_(pick))
            .values(claimed_at=bindparam("now"), attempts=t.c.attempts + 1)
            .returning(
                t.c.id,
                t.c.message_id,
                t.c.exchange,
                t.c.routing_key,
                t.c.correlation_id,
                t.c.body,
                t.c.headers,
            )
        )

    async def _claim(self) -> list:
        now = self.clock.now()
        async with self._statement() as conn:
            rows = await hot_sql.run(
                conn,
                ("outbox claim", self.outbox, self.batch_size),
                self._claim_statement,
                {"now": now, "stale": now - self.claim_lease},
            )
        return sorted(rows, key=lambda r: r.id)

    def _ids(self, conn: AsyncConnection):
        """``id`` in the ``ids`` parameter: one array parameter on PostgreSQL (the same
        statement for any number of rows), an expanding IN elsewhere."""
        return any_of(conn, self.outbox.c.id, "ids", BigInteger)

    def _sent_statement(self, conn: AsyncConnection):
        return (
            update(self.outbox)
            .where(self._ids(conn))
            .values(sent_at=bindparam("now"), claimed_at=None)
        )

    def _given_back_statement(self, conn: AsyncConnection):
        t = self.outbox
        return (
            update(t)
            .where(self._ids(conn), t.c.sent_at.is_(None))
            .values(claimed_at=None, last_error=bindparam("error"))
        )

    async def _settle(self, sent: list[int], failed: list[int], error: str | None) -> None:
        if sent:
            async with self._statement() as conn:
                await hot_sql.run(
                    conn,
                    ("outbox sent", self.outbox),
                    self._sent_statement,
                    {"ids": sent, "now": self.clock.now()},
                )
        if failed:
            # Given back at once: the next pass (of any relay) publishes them again.
            async with self._statement() as conn:
                await hot_sql.run(
                    conn,
                    ("outbox given back", self.outbox),
                    self._given_back_statement,
                    {"ids": failed, "error": (error or "")[:2000]},
                )

    async def run_once(self, *, defer_sent: bool = False) -> int:
        """Publish one batch; returns how many messages went out. With ``defer_sent`` (the
        running relay) the sent marks are kept for :meth:`_settle_sent`."""
        rows = await self._claim()
        if rows and self._handed:
            # Taken again after the hand-off's lease (the broker was slow): not twice from here.
            claimed = {r.id for r in rows}
            self._handed = [r for r in self._handed if r.id not in claimed]
        return await self._publish(rows, defer_sent)

    async def _publish_handed(self, *, defer_sent: bool = False) -> int:
        rows, self._handed = self._handed, []
        return await self._publish(sorted(rows, key=lambda r: r.id), defer_sent)

    async def _publish(self, rows: list, defer_sent: bool) -> int:
        if not rows:
            return 0
        results = await asyncio.gather(
            *(
                self.bus.publish(
                    r.exchange,
                    r.routing_key,
                    r.body.encode(),
                    message_id=r.message_id,
                    correlation_id=r.correlation_id,
                    headers=r.headers,
                )
                for r in rows
            ),
            return_exceptions=True,
        )
        if self._die_flag:
            self._die_if_asked()
        sent = [r.id for r, res in zip(rows, results, strict=True) if res is None]
        errors = [res for res in results if isinstance(res, BaseException)]
        failed = [r.id for r, res in zip(rows, results, strict=True) if res is not None]
        if defer_sent:
            if not self._unsettled:
                self._unsettled_since = time.monotonic()
            self._unsettled += sent
            sent = []
        await self._settle(
            sent, failed, f"{type(errors[0]).__name__}: {errors[0]}" if errors else None
        )
        if errors:
            raise errors[0]
        return len(rows)

    def _die_if_asked(self) -> None:
        flag = self._die_flag
        if flag and os.path.exists(flag):
            os.remove(flag)
            os._exit(70)

    async def _settle_sent(self) -> None:
        """Write the sent marks the running relay holds, in one statement."""
        ids, self._unsettled = self._unsettled, []
        try:
            await self._settle(ids, [], None)
        except BaseException:
            self._unsettled = ids + self._unsettled  # kept for the next try
            raise

    async def _woken_within(self, seconds: float) -> bool:
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose timeout or inner
        # wait ends as the task is cancelled can swallow the cancellation, and stop() would
        # wait for a relay that goes on running.
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def _idle(self) -> None:
        """Wait for the next commit (or poll); the sent marks held are written first unless
        more work comes at once and they are not due yet."""
        if self._unsettled:
            if not self._settle_due() and await self._woken_within(SETTLE_IDLE):
                return  # published next, these marks with that batch's
            await self._settle_sent()
        await self._woken_within(self.poll_interval)

    def _settle_due(self) -> bool:
        return bool(self._unsettled) and (
            len(self._unsettled) >= self.batch_size
            or time.monotonic() - self._unsettled_since >= SETTLE_WITHIN
        )

    async def drain(self) -> int:
        """Publish until the outbox is empty (tests and shutdown use it)."""
        if self._unsettled:
            await self._settle_sent()
        total = await self._publish_handed()
        while n := await self.run_once():
            total += n
        return total

    async def run(self) -> None:
        backoff = 0.1
        while True:
            # Cleared before the pass, so a commit during the pass is not missed.
            self._wake.clear()
            try:
                n = 0
                if self._handed:
                    await self._publish_handed(defer_sent=True)
                # The table is looked at when asked, and every poll_interval however busy
                # the hand-over keeps the relay (another replica's rows, rows given back).
                if self._poll_asked or time.monotonic() - self._polled >= self.poll_interval:
                    self._poll_asked, self._polled = False, time.monotonic()
                    n = await self.run_once(defer_sent=True)
                backoff = 0.1
                if n < self.batch_size:
                    await self._idle()
                elif self._settle_due():  # full batches back to back
                    await self._settle_sent()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                self._poll_asked = True  # the rows given back are claimed again
                log.warning("outbox relay failed; will retry", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")
        return self._task

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._unsettled:
            # Best effort: a mark not written means those rows go out again after the lease.
            with contextlib.suppress(Exception):
                await self._settle_sent()
        if self._handed:
            # Handed over and not published: given back, for the next relay to take at once.
            ids, self._handed = [r.id for r in self._handed], []
            with contextlib.suppress(Exception):
                await self._settle([], ids, "the relay stopped before publishing it")
        if self._own_engine is not None:
            # Its connection is closed; a later pass (a restart, a drain) opens another.
            await self._own_engine.dispose()
