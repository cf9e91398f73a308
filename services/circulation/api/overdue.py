"""Staff route for the overdue run (HKALL-15 reminders on the policy's schedule, HKALL-18/19
suspension notices); the service also runs it daily by itself. Running it again on the same
day sends nothing twice."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from libs.common.auth import CurrentPrincipal
from libs.common.db import unit_of_work
from services.circulation.api.common import library_staff, staff
from services.circulation.api.views import OverdueRunView
from services.circulation.handlers import overdue as handlers

router = APIRouter(prefix="/api/v1", tags=["loans"], dependencies=[Depends(library_staff)])


def run_view(run: handlers.OverdueRun) -> dict:
    return {
        "day": run.day,
        "overdue_loans": run.overdue_loans,
        "reminders": sum(1 for n in run.sent if n.kind == "overdue"),
        "suspensions": sum(1 for n in run.sent if n.kind == "suspension"),
        "sent": [
            {
                "kind": n.kind,
                "notice_id": n.notice_id,
                "number": n.number,
                "loan_id": n.loan.loan_id,
                "patron_id": n.loan.patron_id,
                "item_id": n.loan.item_id,
                "due_date": n.loan.due_date,
                "days_overdue": n.days_overdue,
                "rule": n.rule,
            }
            for n in run.sent
        ],
    }


@router.post(
    "/loans/overdue-notices",
    response_model=OverdueRunView,
    summary="Send today's overdue reminders and suspension notices now",
)
async def run_now(request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        run = await handlers.send_overdue_notices(conn, lib)
    return run_view(run)
