"""MALA-12 routes: home staff report a patron's institutional card of another library lost
(the MOP 120 replacement fee posted here, the lender told through the broker); lender staff
see the reports it received (a pseudonym and the requests it holds, never who the patron is)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from libs.common.auth import CurrentPrincipal
from services.circulation.api.common import PostOnce, idempotent, library_staff, read_only, staff
from services.circulation.api.schemas import Body
from services.circulation.handlers import card_losses as handlers

router = APIRouter(prefix="/api/v1", tags=["patrons"], dependencies=[Depends(library_staff)])


class CardLoss(Body):
    lender: str = Field(min_length=1, max_length=40, pattern="^[a-z0-9_-]+$")


class FeeView(BaseModel):
    entry_id: str
    kind: str
    amount_minor: int
    currency: str
    rule: str | None


class CardLossView(BaseModel):
    report_id: str
    lender: str
    rule: str
    transactions: list[str]
    reported_at: datetime
    fee: FeeView


class ReceivedView(BaseModel):
    report_id: str
    home_library: str
    patron_ref: str
    transactions: list[str]
    reported_at: datetime
    recorded_at: datetime


@router.post(
    "/patrons/{patron_id}/institutional-cards/lost",
    response_model=CardLossView,
    status_code=201,
    summary="Report the patron's institutional card of another library lost (MALA-12)",
)
async def report_lost(
    patron_id: str,
    body: CardLoss,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    """MALA-12: reported to both libraries: here, where the replacement fee is posted, and to
    the lender that issued the card, told through the broker."""
    lib = staff(request, principal)

    async def work(conn):
        return await handlers.report_lost(conn, lib, patron_id, body.lender)

    return await idempotent(post, body.model_dump(), work)


@router.get(
    "/ill/card-losses",
    response_model=list[ReceivedView],
    summary="Institutional cards of this library reported lost by borrowers' home libraries",
)
async def received(
    request: Request,
    principal: CurrentPrincipal,
    limit: int = Query(default=50, ge=1, le=200),
):
    staff(request, principal)
    return await read_only(request, lambda conn: handlers.received(conn, limit))
