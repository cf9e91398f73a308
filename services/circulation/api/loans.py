"""Staff and library-system routes for lending: checkout by card or smart ID (HKPL-09,
HKPL-18), return at any branch (HKPL-10 fines), renewals and their dry run (HKPL-02..07),
Transaction Reference Number look-up (HKPL-06), lost or damaged items (HKPL-13)."""

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
from services.circulation.api.schemas import (
    Checkout,
    LossCharge,
    RenewalPreview,
    RenewalRequest,
    Return,
)
from services.circulation.api.views import (
    CheckoutView,
    LoansView,
    LossView,
    PlanView,
    RenewalView,
    ReturnView,
    TransactionView,
)
from services.circulation.handlers import account
from services.circulation.handlers import loans as handlers
from services.circulation.handlers.context import Library

router = APIRouter(prefix="/api/v1", tags=["loans"], dependencies=[Depends(library_staff)])


def _entry(entry) -> dict | None:
    if entry is None:
        return None
    return {
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "amount_minor": entry.amount.amount_minor,
        "currency": entry.amount.currency,
        "rule": entry.rule,
        "description": entry.description,
    }


def plan_view(plan) -> dict:
    return {
        "renewal_day": plan.renewal_day,
        "outcomes": [
            {
                "loan_id": o.loan_id,
                "item_id": o.item_id,
                "set_id": o.set_id,
                "selected": o.selected,
                "renewable": o.renewable,
                "due_date": o.due_date,
                # the home policy cannot promise a date the lender decides
                "new_due_date": None if o.needs_lender_approval else o.new_due_date,
                "overdue_fine_minor": o.overdue_fine.amount.amount_minor if o.overdue_fine else 0,
                "rules": o.decision.rules,
                "messages": o.decision.messages
                + (
                    # HKALL-13, MALA-05: the date is the lender's to give
                    ["the lending library decides this renewal: it would be asked for it"]
                    if o.needs_lender_approval
                    else []
                ),
                "needs_lender_approval": o.needs_lender_approval,
            }
            for o in plan.outcomes
        ],
    }


def renewal_view(outcome: handlers.Renewed) -> dict:
    t = outcome.transaction
    pending = {p.loan_id for p in outcome.pending}
    asked = {o.loan_id for o in outcome.plan.renewable if o.needs_lender_approval}
    return {
        "transaction_ref": t.reference if t else None,
        "renewed_at": t.at if t else None,
        "items": [
            {"loan_id": i.loan_id, "item_id": i.item_id, "new_due_date": i.new_due_date}
            for i in (t.items if t else ())
        ],
        "pending": [
            {
                "loan_id": p.loan_id,
                "item_id": p.item_id,
                "transaction_id": p.transaction_id,
                "lender": p.lender,
                "due_date": p.due_date,
                "message": f"pending the approval of the lending library ({p.lender})",
            }
            for p in outcome.pending
        ],
        "refused": [
            o
            for o in plan_view(outcome.plan)["outcomes"]
            if not o["renewable"] or (o["loan_id"] in asked and o["loan_id"] not in pending)
        ],
        "fines": [_entry(e) for e in outcome.fines],
    }


def transaction_view(transaction, rows) -> dict:
    return {
        "transaction_ref": transaction.reference,
        "renewed_at": transaction.at,
        "items": [
            {
                "loan_id": i.loan_id,
                "item_id": i.item_id,
                "title": rows[i.item_id].title if i.item_id in rows else None,
                "new_due_date": i.new_due_date,
            }
            for i in transaction.items
        ],
    }


async def renew_for(lib: Library, patron_id: str, body, post: PostOnce):
    async def work(conn):
        outcome = await handlers.renew(conn, lib, patron_id, body.loan_ids)
        return outcome.map(renewal_view)

    return await idempotent(post, body.model_dump(), work)


async def preview_for(request: Request, lib: Library, patron_id: str, body) -> dict:
    async def work(conn):
        return plan_view(await handlers.preview_renewals(conn, lib, patron_id, body.loan_ids))

    return await read_only(request, work)


@router.post(
    "/loans",
    response_model=CheckoutView,
    status_code=201,
    summary="Check out an item (a set lends whole)",
)
async def checkout(
    body: Checkout,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        outcome = await handlers.checkout(
            conn,
            lib,
            card_number=body.card_number,
            smart_id=body.smart_id,
            item_id=body.item_id,
            barcode=body.barcode,
        )
        return {
            "patron_id": outcome.patron.patron_id,
            "loans": [
                account.loan_view(lib, x, outcome.items.get(x.item_id)) for x in outcome.loans
            ],
            "fees": [_entry(e) for e in outcome.fees],
        }

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/returns",
    response_model=ReturnView,
    status_code=201,
    summary="Return an item at any service point",
)
async def return_item(
    body: Return,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        outcome = await handlers.return_item(
            conn, lib, item_id=body.item_id, barcode=body.barcode, service_point=body.service_point
        )
        return {
            "loan_id": outcome.loan.loan_id,
            "item_id": outcome.loan.item_id,
            "patron_id": outcome.loan.patron_id,
            "returned_at": outcome.loan.returned_at,
            "returned_to": outcome.loan.returned_to,
            "fine": _entry(outcome.fine),
            "item_status": outcome.item_status,
            "hold_id": outcome.hold.hold_id if outcome.hold else None,
        }

    return await idempotent(post, body.model_dump(), work)


@router.get("/patrons/{patron_id}/loans", response_model=LoansView, summary="The patron's loans")
async def patron_loans(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)

    async def work(conn):
        return {"loans": await account.loans_view(conn, lib, patron_id)}

    return await read_only(request, work)


@router.post(
    "/patrons/{patron_id}/renewals",
    response_model=RenewalView,
    status_code=201,
    summary="Renew loans; a Transaction Reference Number for what was renewed (HKPL-06)",
)
async def renew(
    patron_id: str,
    body: RenewalRequest,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)
    return await renew_for(lib, patron_id, body, post)


@router.post(
    "/patrons/{patron_id}/renewals/preview",
    response_model=PlanView,
    summary="Dry run: what renewing these now would do (nothing changes)",
)
async def preview(
    patron_id: str, body: RenewalPreview, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    return await preview_for(request, lib, patron_id, body)


@router.get(
    "/renewal-transactions/{reference}",
    response_model=TransactionView,
    summary="Look up a Transaction Reference Number",
)
async def lookup(reference: str, request: Request, principal: CurrentPrincipal):
    staff(request, principal)

    async def work(conn):
        return transaction_view(*await handlers.lookup_transaction(conn, reference))

    return await read_only(request, work)


async def _loss(request, principal, loan_id, body, post: PostOnce, damaged: bool):
    lib = staff(request, principal)

    async def work(conn):
        outcome = await handlers.charge_lost_or_damaged(
            conn,
            lib,
            loan_id,
            damaged=damaged,
            replacement_cost_minor=body.replacement_cost_minor,
            surcharge_percent=body.surcharge_percent,
        )
        return {
            "loan_id": outcome.loan.loan_id,
            "item_id": outcome.loan.item_id,
            "charge": _entry(outcome.charge),
            "fine": _entry(outcome.fine),
        }

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/loans/{loan_id}/lost",
    response_model=LossView,
    status_code=201,
    summary="Charge a lost item (HKPL-13)",
)
async def lost(
    loan_id: str,
    body: LossCharge,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    return await _loss(request, principal, loan_id, body, post, damaged=False)


@router.post(
    "/loans/{loan_id}/damaged",
    response_model=LossView,
    status_code=201,
    summary="Charge a damaged item (HKPL-13)",
)
async def damaged(
    loan_id: str,
    body: LossCharge,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    return await _loss(request, principal, loan_id, body, post, damaged=True)
