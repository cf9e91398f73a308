"""Every query on the notices table. The caller owns the transaction: nothing commits here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.contracts.events import NoticeRequested
from libs.common.db import insert_new, one_of
from libs.common.pagination import DEFAULT_PAGE_SIZE, cut, keyset, page_size
from libs.common.pagination import MAX_PAGE_SIZE as MAX_PAGE_SIZE  # its bound, read by callers
from libs.common.state_updates import guarded_step
from services.notifier.adapters.tables import notices
from services.notifier.domain.kinds import language_for
from services.notifier.domain.redaction import (
    erased_personal,
    personal_part,
    scrub,
    without_personal,
)
from services.notifier.domain.status import CLAIMABLE, NOTICE_LIFE, NoticeStatus

DEFAULT_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedNotice:
    """A notice a worker has the right to send now, with what sending needs."""

    notice_id: str
    kind: str
    library: str
    email: str | None
    patron_name: str | None
    language: str
    payload: dict[str, Any]
    attempt: int  # this attempt's number, counted from 1; also fences late outcomes

    def to_event(self) -> NoticeRequested:
        """The event back, with the personal part, for rendering."""
        if not self.email:
            raise ValueError("the address of this notice has been erased")
        return NoticeRequested.model_validate(
            {**self.payload, "email": self.email, "patron_name": self.patron_name}
        )


@dataclass(frozen=True)
class NoticeView:
    """A notice as operators and the HTTP API see it: never the address or the name."""

    id: int
    notice_id: str
    kind: str
    library: str
    patron_ref: str
    language: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    payload: dict[str, Any]
    has_address: bool

    @property
    def title(self) -> str | None:
        return self.payload.get("title")


@dataclass(frozen=True)
class NoticePage:
    items: list[NoticeView]
    # Pass back as ``cursor`` for the next (older) page; None on the last page.
    next_cursor: int | None


async def record_notice(conn: AsyncConnection, payload: NoticeRequested, now: datetime) -> bool:
    """Record a notice to send; False (and nothing changed) if its notice_id is known.

    This is what makes a redelivered event harmless: the second copy finds the row —
    pending, sent or failed — and adds nothing, nor brings back an erased address.
    """
    data = payload.model_dump(mode="json")
    personal = personal_part(data)
    values = {
        "notice_id": payload.notice_id,
        "kind": payload.kind,
        "library": payload.library,
        "patron_ref": payload.patron_ref,
        "email": personal["email"],
        "patron_name": personal["patron_name"],
        "language": language_for(payload.language),
        "payload": without_personal(data),
        "status": NoticeStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    # Built once: the columns are the values given.
    result = await hot_sql.run(
        conn, ("notice record", notices), lambda c: insert_new(c, notices, "notice_id"), values
    )
    return result.rowcount == 1


async def claim_due(
    conn: AsyncConnection,
    now: datetime,
    *,
    limit: int = 20,
    lease: timedelta = DEFAULT_LEASE,
) -> list[ClaimedNotice]:
    """Take up to ``limit`` notices whose time has come and mark them as being sent.

    Claiming counts the attempt and sets a lease: if the worker dies before recording the
    outcome, the notice becomes claimable again when the lease ends instead of being lost.
    On PostgreSQL concurrent workers skip each other's rows (FOR UPDATE SKIP LOCKED);
    SQLite serialises writers, so the same single statement is safe there.
    """
    if limit < 1:
        return []
    rows = await hot_sql.run(
        conn,
        ("notices claim", notices, limit),
        lambda c: _claim_statement(c, limit),
        {"b_now": now, "b_lease_until": now + lease},
    )
    # RETURNING gives no order; keep the oldest first.
    return [
        ClaimedNotice(
            notice_id=row.notice_id,
            kind=row.kind,
            library=row.library,
            email=row.email,
            patron_name=row.patron_name,
            language=row.language,
            payload=dict(row.payload),
            attempt=row.attempts,
        )
        for row in sorted(rows.all(), key=lambda row: row.id)
    ]


def _claim_statement(conn: AsyncConnection, limit: int) -> Any:
    """The claim, built once per batch size (the times bound at each run): the notices due
    by ``b_now``, leased until ``b_lease_until``."""
    now = bindparam("b_now", type_=notices.c.next_attempt_at.type)
    due = (
        select(notices.c.id)
        .where(
            one_of(notices.c.status, (s.value for s in CLAIMABLE)),
            notices.c.next_attempt_at <= now,
        )
        .order_by(notices.c.next_attempt_at, notices.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return (
        guarded_step(notices, notices.c.status, NOTICE_LIFE, "claim")
        .where(notices.c.id.in_(due.scalar_subquery()))
        .values(
            attempts=notices.c.attempts + 1,
            next_attempt_at=bindparam("b_lease_until", type_=notices.c.next_attempt_at.type),
            updated_at=now,
        )
        .returning(
            notices.c.id,
            notices.c.notice_id,
            notices.c.kind,
            notices.c.library,
            notices.c.email,
            notices.c.patron_name,
            notices.c.language,
            notices.c.payload,
            notices.c.attempts,
        )
    )


async def mark_sent(conn: AsyncConnection, notice_id: str, now: datetime) -> bool:
    """Record delivery and erase the personal part; False if the notice was not sending.

    Accepted from any attempt still marked sending: the mail went out, and saying so
    is what keeps another worker from sending it again.
    """
    result = await hot_sql.run(
        conn, ("notice sent", notices), _sent_statement, {"b_notice_id": notice_id, "b_now": now}
    )
    return result.rowcount == 1


def _sent_statement(_: AsyncConnection) -> Any:
    now = bindparam("b_now", type_=notices.c.sent_at.type)
    return (
        guarded_step(notices, notices.c.status, NOTICE_LIFE, "sent")
        .where(notices.c.notice_id == bindparam("b_notice_id"))
        .values(sent_at=now, next_attempt_at=None, updated_at=now, **erased_personal())
    )


async def schedule_retry(
    conn: AsyncConnection,
    notice_id: str,
    *,
    attempt: int,
    at: datetime,
    error: str,
    now: datetime,
) -> bool:
    """Put a notice back for another try at ``at``; False if ``attempt`` is no longer current.

    The attempt number fences a worker whose lease ran out: its late verdict must not
    overwrite the outcome of the attempt that replaced it.
    """
    result = await conn.execute(
        guarded_step(notices, notices.c.status, NOTICE_LIFE, "retry")
        .where(
            notices.c.notice_id == notice_id,
            notices.c.attempts == attempt,
        )
        .values(
            next_attempt_at=at,
            last_error=error,
            updated_at=now,
        )
    )
    return result.rowcount == 1


async def mark_failed(
    conn: AsyncConnection,
    notice_id: str,
    *,
    attempt: int,
    error: str,
    now: datetime,
) -> bool:
    """Give up on a notice: it stays, failed, for operators; the personal part is erased."""
    result = await conn.execute(
        guarded_step(notices, notices.c.status, NOTICE_LIFE, "give_up")
        .where(
            notices.c.notice_id == notice_id,
            notices.c.attempts == attempt,
        )
        .values(
            failed_at=now,
            next_attempt_at=None,
            last_error=error,
            updated_at=now,
            **erased_personal(),
        )
    )
    return result.rowcount == 1


_VIEW_COLUMNS = (
    notices.c.id,
    notices.c.notice_id,
    notices.c.kind,
    notices.c.library,
    notices.c.patron_ref,
    notices.c.language,
    notices.c.status,
    notices.c.attempts,
    notices.c.last_error,
    notices.c.next_attempt_at,
    notices.c.created_at,
    notices.c.updated_at,
    notices.c.sent_at,
    notices.c.failed_at,
    notices.c.payload,
    notices.c.email.is_not(None).label("has_address"),
)


def _view(row: RowMapping) -> NoticeView:
    values = dict(row)
    values["payload"] = without_personal(values["payload"] or {})
    values["has_address"] = bool(values["has_address"])
    return NoticeView(**values)


async def get_notice(conn: AsyncConnection, notice_id: str) -> NoticeView | None:
    row = (
        (await conn.execute(select(*_VIEW_COLUMNS).where(notices.c.notice_id == notice_id)))
        .mappings()
        .first()
    )
    return _view(row) if row else None


async def list_notices(
    conn: AsyncConnection,
    *,
    status: str | Sequence[str] | None = None,
    library: str | None = None,
    kind: str | None = None,
    limit: int | None = DEFAULT_PAGE_SIZE,
    cursor: int | None = None,
) -> NoticePage:
    """Notices newest first, filtered; ``cursor`` is the previous page's ``next_cursor``."""
    size = page_size(limit)
    query = keyset(select(*_VIEW_COLUMNS), notices.c.id, cursor, size, newest_first=True)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        query = query.where(notices.c.status.in_([NoticeStatus(s).value for s in wanted]))
    if library is not None:
        query = query.where(notices.c.library == library)
    if kind is not None:
        query = query.where(notices.c.kind == kind)
    rows = (await conn.execute(query)).mappings().all()
    page = cut([_view(row) for row in rows], size, lambda view: view.id)
    return NoticePage(items=page.items, next_cursor=page.next_cursor)


async def list_failed(
    conn: AsyncConnection,
    *,
    library: str | None = None,
    kind: str | None = None,
    limit: int | None = DEFAULT_PAGE_SIZE,
    cursor: int | None = None,
) -> NoticePage:
    """The notices operators must look at: delivery gave up on them."""
    return await list_notices(
        conn,
        status=NoticeStatus.FAILED,
        library=library,
        kind=kind,
        limit=limit,
        cursor=cursor,
    )


async def count_by_status(conn: AsyncConnection, *, library: str | None = None) -> dict[str, int]:
    """How many notices are in each status (every status present, zero included)."""
    query = select(notices.c.status, func.count()).group_by(notices.c.status)
    if library is not None:
        query = query.where(notices.c.library == library)
    counts = dict.fromkeys((s.value for s in NoticeStatus), 0)
    for status, count in (await conn.execute(query)).all():
        counts[status] = count
    return counts


def safe_error(text: str, *, email: str | None, patron_name: str | None = None) -> str:
    """An error text fit to store and show operators (no address or name in it)."""
    return scrub(text, (email, patron_name))
