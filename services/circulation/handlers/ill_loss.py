"""The home library's side of an inter-library loan gone astray (ILL.md, "After the
checkout"): staff or the patron report the lender's item lost, staff report it damaged or
claimed returned, and the lender is told (Lost, Damaged, ClaimedReturned); the daily job
treats an overdue loan as lost when the policy says so (HKALL-19: the maximum fine reached;
MALA-09: more than a month overdue), which for an ILL loan reports Lost to its lender; when
the patron pays the lender's charge, the lender is told ChargePaid (MALA-13).

The lender's answers (its charge, its check-in) settle the loan in :mod:`.ill_loan_end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import ill_borrowing_repo as repo
from services.circulation.adapters import (
    items_repo,
    loans_repo,
    notices_repo,
    patrons_repo,
)
from services.circulation.adapters.tables import ill_borrowing, loan_notices
from services.circulation.domain import lending
from services.circulation.domain.ill_loss import fully_paid
from services.circulation.domain.ill_requester import RequesterState
from services.circulation.domain.ledger import Ledger
from services.circulation.domain.loan import LoanLoss
from services.circulation.domain.overdue import LoanNotice
from services.circulation.domain.suspension_lifted import Noticed, liftings_owed
from services.circulation.handlers.context import Library
from services.circulation.handlers.ill_borrowing import IllStepRefused, _apply, _decided, _load
from services.circulation.handlers.notices import notify_loan_notice
from services.circulation.handlers.patrons import load_patron

S = RequesterState
ASSUMED_LOST_JOB = "job:assumed-lost"


async def _mark_loan(
    conn: AsyncConnection, lib: Library, row: dict[str, Any], state: LoanLoss
) -> None:
    """Record the patron's loan of the lender's item as lost or claimed returned: the
    claim stops its fine (fines_stop_on); either way, if it comes back, no cap (HKALL-17)."""
    await load_patron(conn, lib, row["patron_id"], for_update=True)
    if not row["loan_id"]:
        return
    loan = await loans_repo.get_loan(conn, row["loan_id"], for_update=True)
    if loan is None or not loan.active:
        return
    if loan.loss == state or (state == "lost" and loan.loss == "assumed_lost"):
        return  # already so: the assumed loss is kept as the job recorded it
    marked, _ = lending.mark_loss(loan, state, at=lib.now(), on=lib.today())
    await loans_repo.save_active_loan(conn, marked)


async def report_lost(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    *,
    actor: str,
    patron_id: str | None = None,
) -> dict[str, Any]:
    """HKALL-20, MALA-11: the item is lost (staff, the patron, or the assumed-lost job): the
    lender is told Lost and answers with its charge."""
    row = await _load(conn, transaction_id, patron_id=patron_id)
    outcome = _decided(row["state"], "lost")
    await _mark_loan(conn, lib, row, "lost")
    return await _apply(
        conn,
        lib,
        row,
        outcome,
        actor=actor,
        message_id=None,
        causation_id=None,
        extra={"loss_reported_on": lib.today()},
    )


async def report_damaged(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """HKALL-20, MALA-11: the item came back damaged (or the patron says it is): the lender
    is told Damaged and answers with its charge; the loan goes on as it is."""
    row = await _load(conn, transaction_id)
    outcome = _decided(row["state"], "damaged")
    return await _apply(conn, lib, row, outcome, actor=actor, message_id=None, causation_id=None)


async def claimed_returned(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """The patron says the item was returned and it cannot be found: recorded, its fine
    stops today, the lender is told ClaimedReturned; the lender's check-in (or a loss)
    settles it."""
    row = await _load(conn, transaction_id)
    outcome = _decided(row["state"], "claimed_returned")
    await _mark_loan(conn, lib, row, "claimed_returned")
    return await _apply(conn, lib, row, outcome, actor=actor, message_id=None, causation_id=None)


async def mark_assumed_lost(conn: AsyncConnection, lib: Library) -> int:
    """The daily job: overdue loans the policy now treats as lost (HKALL-19: the maximum
    fine reached; MALA-09: overdue by more than one month) are recorded as assumed lost; an
    ILL loan's lender is told Lost. Safe to repeat: a loan already recorded is left alone."""
    loans = await loans_repo.overdue_loans(conn, lib.today())
    changed, _ = lending.mark_assumed_lost(lib.policy, loans, at=lib.now())
    for loan in changed:
        await load_patron(conn, lib, loan.patron_id, for_update=True)
        if not await loans_repo.save_active_loan(conn, loan):
            continue  # returned meanwhile
        if not loan.ill:
            continue
        found = await repo.by_item(conn, loan.item_id)
        if found is None or S(found["state"]) not in (S.CHECKED_OUT,):
            continue
        row = await _load(conn, found["transaction_id"])
        try:
            outcome = _decided(row["state"], "lost")
        except IllStepRefused:  # pragma: no cover - checked just above, under the lock
            continue
        await _apply(
            conn,
            lib,
            row,
            outcome,
            actor=ASSUMED_LOST_JOB,
            message_id=None,
            causation_id=None,
            extra={"loss_reported_on": lib.today()},
        )
    return len(changed)


async def charges_paid(conn: AsyncConnection, lib: Library, patron_id: str, ledger: Ledger) -> int:
    """MALA-13: once the patron has paid a lender's charge in full, the lender is told
    ChargePaid (once: the day is kept on the transaction)."""
    rows = (
        await conn.execute(
            select(ill_borrowing.c.transaction_id, ill_borrowing.c.charge_entry_id).where(
                ill_borrowing.c.patron_id == patron_id,
                ill_borrowing.c.charge_entry_id.is_not(None),
                ill_borrowing.c.charge_paid_at.is_(None),
            )
        )
    ).all()
    paid = fully_paid(ledger, [r.charge_entry_id for r in rows])
    told = 0
    for r in rows:
        if r.charge_entry_id not in paid:
            continue
        row = await _load(conn, r.transaction_id)
        if row["charge_paid_at"] is not None:
            continue
        outcome = _decided(row["state"], "charge_paid")
        await _apply(
            conn,
            lib,
            row,
            outcome,
            actor=f"{lib.code}:payments",
            message_id=None,
            causation_id=None,
            extra={"charge_paid_at": lib.now()},
        )
        told += 1
    return told


@dataclass
class LiftedRun:
    day: date
    sent: list[LoanNotice] = field(default_factory=list)


async def send_liftings(conn: AsyncConnection, lib: Library) -> LiftedRun:
    """HKALL-18, HKALL-19: a notice for every suspension whose condition is cleared (the
    item returned, or charged as lost), once each: recorded like the suspension notice."""
    today = lib.today()
    lifted = loan_notices.alias("lifted")
    rows = (
        await conn.execute(
            select(loan_notices.c.loan_id, loan_notices.c.rule).where(
                loan_notices.c.kind == "suspension",
                ~exists().where(
                    and_(
                        lifted.c.loan_id == loan_notices.c.loan_id,
                        lifted.c.kind == "suspension_lifted",
                        lifted.c.rule == loan_notices.c.rule,
                    )
                ),
            )
        )
    ).all()
    run = LiftedRun(day=today)
    if not rows:
        return run
    loans = {}
    for r in rows:
        if r.loan_id not in loans and (loan := await loans_repo.get_loan(conn, r.loan_id)):
            loans[r.loan_id] = loan
    patrons = {loan.patron_id for loan in loans.values()}
    out = {p: await loans_repo.active_loans(conn, p) for p in patrons}
    owed = liftings_owed(
        lib.policy,
        [Noticed(r.loan_id, r.rule) for r in rows if r.rule],
        loans,
        on=today,
        library=lib.code,
        patron_loans=out,
    )
    titles = await items_repo.item_rows(conn, list({n.loan.item_id for n in owed}))
    for notice in owed:
        patron = await patrons_repo.get_patron(conn, lib.code, notice.loan.patron_id)
        if patron is None:  # pragma: no cover - loans reference this library's patrons
            continue
        if not await notices_repo.record(conn, notice, on=today, at=lib.now()):
            continue  # another run has just sent it
        item = titles.get(notice.loan.item_id)
        await notify_loan_notice(conn, lib, patron, notice, item.title if item else "")
        run.sent.append(notice)
    return run
