"""Parking dead letters for operators, and replaying them on request.

The broker reads every consumer's dead-letter queue into its database (ack after commit), so
operators see them on the dashboard with their reasons, and a replay goes back through the
outbox to the queue the message failed in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.clock import Clock
from libs.common.db import unit_of_work, upsert
from libs.common.messaging.consumer import REPLAY_HEADER
from libs.common.messaging.delivery import Bus, Delivery
from libs.common.messaging.outbox import enqueue_raw
from libs.common.messaging.topology import SHARED_SERVICES, principal_of
from libs.common.pagination import Page, cut, keyset
from services.requests.adapters.tables import dead_letters, outbox


def _plain(headers: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool) or v is None else str(v)
        for k, v in headers.items()
    }


def original_user(delivery: Delivery) -> str | None:
    """Who published the message that was dead-lettered. A shared service's consumer
    republishes a dead letter under its own login and names the original publisher in a
    header; a library may publish to the dead-letter exchange too, and could write anything
    there, so only its own (RabbitMQ-validated) login counts."""
    if principal_of(delivery.user_id) in SHARED_SERVICES and REPLAY_HEADER in delivery.headers:
        return str(delivery.headers[REPLAY_HEADER]) or None
    return delivery.user_id


async def park(conn: AsyncConnection, delivery: Delivery, clock: Clock) -> None:
    now = clock.now()
    queue = str(delivery.headers.get("x-illfed-queue") or delivery.queue.removesuffix(".dlq"))
    values = {
        "queue": queue,
        "message_id": delivery.message_id or "",
        "reason": str(delivery.headers.get("x-illfed-reason") or "rejected by the broker"),
        "original_user": original_user(delivery),
        "body": delivery.body.decode("utf-8", "replace"),
        "headers": _plain(delivery.headers),
        "status": "parked",
        "first_seen_at": now,
        "last_seen_at": now,
    }
    stmt = upsert(conn, dead_letters).values(**values)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["queue", "message_id"],
            set_={
                "reason": stmt.excluded.reason,
                "status": "parked",
                "last_seen_at": now,
                "times": dead_letters.c.times + 1,
                "resolved_at": None,
                "resolved_by": None,
            },
        )
    )


class DeadLetterCollector:
    """Consumes the given dead-letter queues into the ``dead_letters`` table."""

    def __init__(self, engine: AsyncEngine, bus: Bus, clock: Clock, queues: list[str]) -> None:
        self.engine, self.bus, self.clock, self.queues = engine, bus, clock, queues
        self._subs: list = []

    async def _on(self, delivery: Delivery) -> None:
        async with unit_of_work(self.engine) as conn:
            await park(conn, delivery, self.clock)
        await delivery.ack()

    async def start(self) -> None:
        for q in self.queues:
            self._subs.append(await self.bus.consume(q, self._on, prefetch=8))

    def consuming(self) -> dict[str, bool]:
        """Each dead-letter queue read, and whether its consumer is live (for readiness)."""
        return {s.queue: s.live for s in self._subs}

    async def stop(self) -> None:
        for s in self._subs:
            await s.stop()
        self._subs.clear()


async def list_dead_letters(
    conn: AsyncConnection, *, status: str | None, queue: str | None, after: int | None, limit: int
) -> Page[dict]:
    q = keyset(select(dead_letters), dead_letters.c.id, after, limit)
    if status:
        q = q.where(dead_letters.c.status == status)
    if queue:
        q = q.where(dead_letters.c.queue == queue)
    return cut([dict(r) for r in (await conn.execute(q)).mappings()], limit, lambda r: r["id"])


async def counts_by_queue(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(dead_letters.c.queue, func.count())
        .where(dead_letters.c.status == "parked")
        .group_by(dead_letters.c.queue)
    )
    return {q: n for q, n in rows.all()}


async def replay(conn: AsyncConnection, dl_id: int, operator: str, clock: Clock) -> dict | None:
    """Send a parked message back to the queue it failed in (through the outbox)."""
    row = (
        (
            await conn.execute(
                select(dead_letters).where(dead_letters.c.id == dl_id).with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["status"] != "parked":
        return dict(row) if row else None
    headers = {REPLAY_HEADER: row["original_user"] or "", "x-illfed-replayed-by": operator}
    await enqueue_raw(
        conn,
        outbox,
        row["body"],
        message_id=row["message_id"],
        exchange="",
        routing_key=row["queue"],
        created_at=clock.now(),
        headers=headers,
    )
    await conn.execute(
        update(dead_letters)
        .where(dead_letters.c.id == dl_id)
        .values(status="replayed", resolved_at=clock.now(), resolved_by=operator)
    )
    return {**row, "status": "replayed"}
