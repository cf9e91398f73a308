"""Self-service for the library's patrons: sign in (HKPL-08) and sign out, my account, my
loans, renew the ones I select at any hour (HKPL-02..07), my reservations, my charges, and
look up a Transaction Reference Number (HKPL-06)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from libs.common.auth import CurrentPrincipal
from libs.common.db import unit_of_work
from services.circulation.api.common import (
    PostOnce,
    idempotent,
    lib_of,
    read_only,
    signed_in_patron,
)
from services.circulation.api.loans import preview_for, renew_for, transaction_view
from services.circulation.api.schemas import HoldRequest, RenewalPreview, RenewalRequest, SignIn
from services.circulation.api.views import (
    AccountView,
    HoldsView,
    HoldView,
    LedgerView,
    LoansView,
    PatronView,
    PlanView,
    RenewalView,
    SessionView,
    TransactionView,
)
from services.circulation.handlers import account, sessions
from services.circulation.handlers import holds as holds_handlers
from services.circulation.handlers import loans as loans_handlers
from services.circulation.handlers import patrons as patrons_handlers

router = APIRouter(prefix="/api/v1", tags=["self-service"])
SESSION_COOKIE = "illfed_session"


@router.post(
    "/patron-sessions",
    response_model=SessionView,
    status_code=201,
    summary="Sign in with a card number or HKID number and a password or phone digits",
    responses={
        401: {"description": "Sign-in refused: no such card or HKID number, or a wrong secret"},
        423: {"description": "Sign-in locked after too many wrong secrets"},
    },
)
async def sign_in(body: SignIn, request: Request):
    """HKPL-08. A card number nobody has is answered exactly as a wrong secret is. Repeated
    failures, per client and per card or HKID number, make further tries wait: a 429 whose
    ``Retry-After`` says how long (an unknown number waits the same way)."""
    lib = lib_of(request)
    # The client's own address: a proxy in front would need its forwarded address trusted
    # explicitly, and none is by default.
    client = request.client.host if request.client else "unknown"
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        outcome = await patrons_handlers.sign_in(
            conn, lib, body.identifier, body.secret, client=client
        )
    signed_in = outcome.answer()
    patron_id = signed_in.patron_id
    tokens = request.app.state.tokens
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        session = await sessions.start(
            conn, lib, patron_id, card_number=signed_in.card_number, ttl=tokens.ttl
        )
    token = tokens.issue(patron_id, "patron", lib.code, session=session)
    ttl = int(tokens.ttl.total_seconds())
    response = JSONResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "patron_id": patron_id},
        status_code=201,
    )
    response.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="lax", secure=False
    )
    return response


@router.delete(
    "/patron-sessions/current",
    status_code=204,
    summary="Sign out: the session token (bearer or cookie) stops working at once",
)
async def sign_out(request: Request, principal: CurrentPrincipal):
    """Ends the session the token names; the patron's other sessions go on. A lost card
    report, a new password or phone number, and a cancelled account end them all."""
    lib, _ = signed_in_patron(request, principal)
    if principal.session is not None:
        async with unit_of_work(request.app.state.runtime.engine) as conn:
            await sessions.sign_out(conn, lib, principal.session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=False)
    return response


@router.get("/me", response_model=AccountView, summary="My account")
async def me(request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    return await read_only(request, lambda conn: account.summary(conn, lib, patron_id))


@router.get("/me/loans", response_model=LoansView, summary="My loans and their due dates")
async def my_loans(request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        return {"loans": await account.loans_view(conn, lib, patron_id)}

    return await read_only(request, work)


@router.post(
    "/me/renewals", response_model=RenewalView, status_code=201, summary="Renew the loans I select"
)
async def renew(
    body: RenewalRequest,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib, patron_id = signed_in_patron(request, principal)
    return await renew_for(lib, patron_id, body, post)


@router.post(
    "/me/renewals/preview", response_model=PlanView, summary="What renewing these now would do"
)
async def preview(body: RenewalPreview, request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    return await preview_for(request, lib, patron_id, body)


@router.get(
    "/me/renewal-transactions/{reference}",
    response_model=TransactionView,
    summary="Look up my Transaction Reference Number",
)
async def lookup(reference: str, request: Request, principal: CurrentPrincipal):
    _, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        found = await loans_handlers.lookup_transaction(conn, reference, patron_id=patron_id)
        return transaction_view(*found)

    return await read_only(request, work)


@router.get("/me/holds", response_model=HoldsView, summary="My reservations")
async def my_holds(request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        return {"holds": await account.holds_view(conn, lib, patron_id)}

    return await read_only(request, work)


@router.post("/me/holds", response_model=HoldView, status_code=201, summary="Reserve a title")
async def place_hold(
    body: HoldRequest,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        hold = await holds_handlers.place(conn, lib, patron_id, body.title_id, body.pickup_location)
        return account.hold_view(hold)

    return await idempotent(post, body.model_dump(), work)


@router.post("/me/holds/{hold_id}/cancel", response_model=HoldView, summary="Cancel my reservation")
async def cancel_hold(hold_id: str, request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        hold = await holds_handlers.cancel(conn, lib, hold_id, patron_id=patron_id)
    return account.hold_view(hold)


@router.get("/me/charges", response_model=LedgerView, summary="My fines and fees")
async def my_charges(request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        return await account.statement_view(conn, lib, patron_id)

    return await read_only(request, work)


@router.post(
    "/me/cards/{card_number}/lost",
    response_model=PatronView,
    summary="Report my library card lost (HKPL-15)",
)
async def report_lost(card_number: str, request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change = await patrons_handlers.report_own_card_lost(
            conn, lib, patron_id, card_number.upper()
        )
    return account.patron_view(change.patron)
