"""The daily overdue run: each overdue loan's patron gets the reminder the policy's schedule
owes today (HKALL-15; HKPL's and MALA's own schedules, MALA-13), and a notice when the loan
has suspended their borrowing privileges (HKALL-18, HKALL-19).

Safe to run as often as one likes and on several replicas at once: every notice has a stable
id, recorded in the same transaction as its outbox row, and a notice already recorded is not
written again. The day comes from the library's clock only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import items_repo, loans_repo, notices_repo, patrons_repo
from services.circulation.domain.overdue import LoanNotice, notices_owed
from services.circulation.domain.patrons import Patron
from services.circulation.handlers.context import Library
from services.circulation.handlers.notices import notify_loan_notice


@dataclass
class OverdueRun:
    day: date
    overdue_loans: int
    sent: list[LoanNotice] = field(default_factory=list)


async def send_overdue_notices(conn: AsyncConnection, lib: Library) -> OverdueRun:
    """Write today's overdue reminders and suspension notices to the outbox; returns what
    this run sent (nothing when another run already had)."""
    today = lib.today()
    loans = await loans_repo.overdue_loans(conn, today)
    recorded = await notices_repo.recorded_for(conn, [loan.loan_id for loan in loans])
    owed = notices_owed(
        lib.policy,
        loans,
        on=today,
        library=lib.code,
        reminders_sent=recorded.reminders_sent,
        noticed=recorded.notice_ids,
    )
    run = OverdueRun(day=today, overdue_loans=len(loans))
    if not owed:
        return run
    rows = await items_repo.item_rows(conn, list({n.loan.item_id for n in owed}))
    patrons: dict[str, Patron | None] = {}
    for notice in owed:
        pid = notice.loan.patron_id
        if pid not in patrons:
            patrons[pid] = await patrons_repo.get_patron(conn, lib.code, pid)
        patron = patrons[pid]
        if patron is None:  # pragma: no cover - loans reference this library's patrons
            continue
        if not await notices_repo.record(conn, notice, on=today, at=lib.now()):
            continue  # another run (a replica, a retry) has just sent it
        row = rows.get(notice.loan.item_id)
        await notify_loan_notice(
            conn, lib, patron, notice, row.title if row else notice.loan.item_id
        )
        run.sent.append(notice)
    return run
