"""The notices loans have owed their patrons (overdue reminders, suspensions), recorded so
the daily run moves on in the schedule and never writes one notice twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import insert_new
from services.circulation.adapters.tables import loan_notices
from services.circulation.domain.overdue import LoanNotice


@dataclass(frozen=True)
class Recorded:
    reminders_sent: dict[str, int]  # loan id -> number of its last overdue reminder
    notice_ids: frozenset[str]


async def recorded_for(conn: AsyncConnection, loan_ids: Sequence[str]) -> Recorded:
    if not loan_ids:
        return Recorded({}, frozenset())
    rows = (
        await conn.execute(
            select(
                loan_notices.c.notice_id,
                loan_notices.c.loan_id,
                loan_notices.c.kind,
                loan_notices.c.number,
            ).where(loan_notices.c.loan_id.in_(list(loan_ids)))
        )
    ).all()
    sent: dict[str, int] = {}
    for r in rows:
        if r.kind == "overdue":
            sent[r.loan_id] = max(sent.get(r.loan_id, 0), r.number)
    return Recorded(sent, frozenset(r.notice_id for r in rows))


async def record(conn: AsyncConnection, notice: LoanNotice, *, on: date, at: datetime) -> bool:
    """Record a notice as sent; False when it already was (then it must not be sent)."""
    res = await conn.execute(
        insert_new(conn, loan_notices, "notice_id").values(
            notice_id=notice.notice_id,
            loan_id=notice.loan.loan_id,
            kind=notice.kind,
            number=notice.number,
            rule=notice.rule,
            notice_day=on,
            at=at,
        )
    )
    return res.rowcount == 1
