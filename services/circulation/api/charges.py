"""Staff routes for the fines and fees ledger: the statement, payments and waivers (who and
why)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from libs.common.auth import CurrentPrincipal
from services.circulation.api.common import (
    PostOnce,
    idempotent,
    library_staff,
    read_only,
    staff,
)
from services.circulation.api.schemas import Payment, Waiver
from services.circulation.api.views import LedgerView, SettlementView
from services.circulation.handlers import account
from services.circulation.handlers import charges as handlers

router = APIRouter(prefix="/api/v1", tags=["charges"], dependencies=[Depends(library_staff)])


@router.get(
    "/patrons/{patron_id}/charges",
    response_model=LedgerView,
    summary="Fines, fees, payments and waivers",
)
async def statement(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)

    async def work(conn):
        return await account.statement_view(conn, lib, patron_id)

    return await read_only(request, work)


async def _settle(request, principal, patron_id, kind, body, actor, post: PostOnce):
    lib = staff(request, principal)

    async def work(conn):
        entry, ledger = await handlers.settle(
            conn,
            lib,
            patron_id,
            kind=kind,
            amount_minor=body.amount_minor,
            actor=actor,
            reason=body.reason,
            applies_to=body.applies_to,
            paid_by=getattr(body, "paid_by_patron_id", None),
        )
        return {
            "entry_id": entry.entry_id,
            "kind": entry.kind,
            "amount_minor": entry.amount.amount_minor,
            "currency": entry.amount.currency,
            "actor": entry.actor,
            "reason": entry.reason,
            "paid_by": entry.paid_by,
            "outstanding_minor": ledger.outstanding_minor(),
        }

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/patrons/{patron_id}/payments",
    response_model=SettlementView,
    status_code=201,
    summary="Record a payment (by the borrower or their guarantor, HKPL-16)",
)
async def pay(
    patron_id: str,
    body: Payment,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    actor = f"{body.received_by} ({principal.subject})" if body.received_by else principal.subject
    return await _settle(request, principal, patron_id, "payment", body, actor, post)


@router.post(
    "/patrons/{patron_id}/waivers",
    response_model=SettlementView,
    status_code=201,
    summary="Waive a charge",
)
async def waive(
    patron_id: str,
    body: Waiver,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    actor = f"{body.granted_by} ({principal.subject})"
    return await _settle(request, principal, patron_id, "waiver", body, actor, post)
