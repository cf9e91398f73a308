"""Staff routes for reservations: place, cancel, the patron's holds, and the pickup-expiry
run (also run daily by the service itself)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from libs.common.auth import CurrentPrincipal
from libs.common.db import unit_of_work
from services.circulation.api.common import (
    PostOnce,
    idempotent,
    library_staff,
    read_only,
    staff,
)
from services.circulation.api.schemas import StaffHoldRequest
from services.circulation.api.views import ExpiryView, HoldsView, HoldView
from services.circulation.handlers import account
from services.circulation.handlers import holds as handlers

router = APIRouter(prefix="/api/v1", tags=["holds"], dependencies=[Depends(library_staff)])


@router.post(
    "/holds", response_model=HoldView, status_code=201, summary="Reserve a title for a patron"
)
async def place(
    body: StaffHoldRequest,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        hold = await handlers.place(conn, lib, body.patron_id, body.title_id, body.pickup_location)
        return account.hold_view(hold)

    return await idempotent(post, body.model_dump(), work)


@router.post("/holds/{hold_id}/cancel", response_model=HoldView, summary="Cancel a reservation")
async def cancel(hold_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        hold = await handlers.cancel(conn, lib, hold_id)
    return account.hold_view(hold)


@router.post(
    "/holds/expire", response_model=ExpiryView, summary="Expire reservations not collected in time"
)
async def expire(request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        expired = await handlers.expire_pickups(conn, lib)
    return {"expired": expired}


@router.get(
    "/patrons/{patron_id}/holds", response_model=HoldsView, summary="The patron's open reservations"
)
async def patron_holds(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)

    async def work(conn):
        return {"holds": await account.holds_view(conn, lib, patron_id)}

    return await read_only(request, work)
