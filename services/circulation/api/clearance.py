"""Staff routes for a patron leaving the library (MALA-14): the clearance (every
inter-library item still out and every unpaid inter-library charge, with the library's own
loans and charges) and closing the account, refused while any of it remains."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from libs.common.auth import CurrentPrincipal
from libs.common.db import unit_of_work
from services.circulation.api.common import library_staff, read_only, staff
from services.circulation.api.schemas import Leaving
from services.circulation.api.views import PatronView
from services.circulation.domain.clearance import ChargeOwed, Clearance
from services.circulation.handlers import account
from services.circulation.handlers import patrons as handlers
from services.circulation.handlers.clearance import clearance_of

router = APIRouter(prefix="/api/v1", tags=["patrons"], dependencies=[Depends(library_staff)])


class IllItemView(BaseModel):
    transaction_id: str
    title: str
    lender: str | None
    state: str
    due_date: date | None
    where: str


class ChargeView(BaseModel):
    entry_id: str
    kind: str
    rule: str | None
    unpaid_minor: int
    currency: str
    loan_id: str | None
    item_id: str | None
    description: str | None
    transaction_id: str | None
    lender: str | None


class LoanOutView(BaseModel):
    loan_id: str
    item_id: str
    due_date: date


class AmountView(BaseModel):
    amount_minor: int
    currency: str


class ClearanceView(BaseModel):
    patron_id: str
    clear: bool
    rules: list[str]
    reasons: list[str]
    ill_items: list[IllItemView]
    ill_charges: list[ChargeView]
    ill_unpaid: list[AmountView]
    loans: list[LoanOutView]
    charges: list[ChargeView]
    unpaid: list[AmountView]


class ClosedView(BaseModel):
    patron: PatronView
    reason: str
    clearance: ClearanceView


def _charge(c: ChargeOwed) -> dict[str, Any]:
    return {
        **c.model_dump(exclude={"unpaid"}),
        "unpaid_minor": c.unpaid.amount_minor,
        "currency": c.unpaid.currency,
    }


def clearance_view(cleared: Clearance) -> dict[str, Any]:
    refusals = cleared.refusals("account closing")
    return {
        "patron_id": cleared.patron_id,
        "clear": cleared.clear,
        "rules": [r.rule for r in refusals],
        "reasons": [r.reason for r in refusals],
        "ill_items": [i.model_dump() for i in cleared.ill_items],
        "ill_charges": [_charge(c) for c in cleared.ill_charges],
        "ill_unpaid": [m.model_dump() for m in cleared.ill_unpaid()],
        "loans": [loan.model_dump() for loan in cleared.loans],
        "charges": [_charge(c) for c in cleared.charges],
        "unpaid": [m.model_dump() for m in cleared.unpaid()],
    }


@router.get(
    "/patrons/{patron_id}/clearance",
    response_model=ClearanceView,
    summary="What must come back and be paid before the patron leaves (MALA-14)",
)
async def get_clearance(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)

    async def work(conn):
        await handlers.load_patron(conn, lib, patron_id)
        return clearance_view(await clearance_of(conn, lib, patron_id))

    return await read_only(request, work)


@router.post(
    "/patrons/{patron_id}/close",
    response_model=ClosedView,
    summary="Close the account of a patron who graduates or leaves (MALA-14)",
)
async def close_account(
    patron_id: str, body: Leaving, request: Request, principal: CurrentPrincipal
):
    """Refused (409, naming MALA-14) while an inter-library item is out or a charge of one is
    unpaid, and (HKPL-17) while the library's own loans or charges remain; the home library
    applies MALA-14 to every inter-library loan, HKALL's as MALA's."""
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change, cleared = await handlers.close_account(conn, lib, patron_id, body.reason)
    return {
        "patron": account.patron_view(change.patron),
        "reason": body.reason,
        "clearance": clearance_view(cleared),
    }
