"""Routes for an inter-library loan gone astray (ILL.md, "After the checkout"). At the home
library: staff report the lender's item lost, damaged or claimed returned; the patron reports
it lost (``/me/ill-requests/{id}/lost``). At the lending library: staff state the charge for
a copy its policy could not price (HKALL-20, MALA-11). Thin: authorise, one unit of work,
answer with the transaction as it now stands."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from libs.common.auth import CurrentPrincipal
from libs.common.db import unit_of_work
from services.circulation.api.common import library_staff, signed_in_patron, staff
from services.circulation.api.ill_borrowing import STEP_REFUSED, TAGS, TransactionId, staff_action
from services.circulation.api.ill_lending import NOT_FOUND as LENDING_NOT_FOUND
from services.circulation.api.ill_lending import LendingView, _act, _actor
from services.circulation.api.ill_views import IllRequestView
from services.circulation.handlers import ill_borrowing, ill_lending_charges, ill_loss

router = APIRouter(prefix="/api/v1", tags=TAGS)
staff_router = APIRouter(
    prefix="/api/v1/ill/borrowing", tags=TAGS, dependencies=[Depends(library_staff)]
)
lending_router = APIRouter(
    prefix="/api/v1/ill/lending", tags=["ill lending"], dependencies=[Depends(library_staff)]
)


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: int = Field(
        ge=1, le=100_000_000, description="in this library's currency's minor units"
    )
    kind: Literal["lost_item", "damaged_item"] | None = Field(
        default=None, description="default: lost_item for a Lost lending, else damaged_item"
    )


async def _step(request: Request, lib, work) -> dict:
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        row = await work(conn)
    return ill_borrowing.request_view(row)


@router.post(
    "/me/ill-requests/{transaction_id}/lost",
    response_model=IllRequestView,
    summary="I lost the item: the lending library is told and charges by its policy",
    responses=STEP_REFUSED,
)
async def my_lost(transaction_id: TransactionId, request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    return await _step(
        request,
        lib,
        lambda conn: ill_loss.report_lost(
            conn, lib, transaction_id, actor=f"patron:{patron_id}", patron_id=patron_id
        ),
    )


@staff_router.post(
    "/{transaction_id}/lost",
    response_model=IllRequestView,
    summary="The item is lost: Lost to the lender, which answers with its charge (HKALL-20)",
    responses=STEP_REFUSED,
)
async def staff_lost(transaction_id: TransactionId, request: Request, principal: CurrentPrincipal):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: ill_loss.report_lost(conn, lib, transaction_id, actor=actor),
    )


@staff_router.post(
    "/{transaction_id}/damaged",
    response_model=IllRequestView,
    summary="The item is damaged: Damaged to the lender, which answers with its charge",
    responses=STEP_REFUSED,
)
async def staff_damaged(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: ill_loss.report_damaged(conn, lib, transaction_id, actor=actor),
    )


@staff_router.post(
    "/{transaction_id}/claimed-returned",
    response_model=IllRequestView,
    summary="The patron says it was returned: its fine stops, the lender is told",
    responses=STEP_REFUSED,
)
async def staff_claimed_returned(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: ill_loss.claimed_returned(conn, lib, transaction_id, actor=actor),
    )


@lending_router.post(
    "/{transaction_id}/charge",
    response_model=LendingView,
    responses={
        **LENDING_NOT_FOUND,
        409: {"description": "the lending is not lost (or out, for a damage charge)"},
    },
    summary="Charge a lost copy the policy could not price, or a damaged one (HKALL-20)",
)
async def lending_charge(
    transaction_id: TransactionId, body: ChargeIn, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: ill_lending_charges.charge(
            conn,
            lib,
            transaction_id,
            amount_minor=body.amount_minor,
            kind=body.kind,
            actor=_actor(principal),
        ),
    )
