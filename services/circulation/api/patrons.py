"""Staff and library-system routes for patrons and their cards: registration (HKPL-16),
library cards and the smart ID card (HKPL-14, HKPL-18), lost cards (HKPL-15), replacements
(HKPL-12, HKPL-19), cancellation (HKPL-17), change of address, the account summary."""

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
from services.circulation.api.schemas import (
    ContactChange,
    GuarantorLinkBody,
    NewCard,
    Password,
    Registration,
    Replacement,
    SmartIdLoss,
    SmartIdReading,
)
from services.circulation.api.views import (
    AccountView,
    CardsView,
    CredentialChangeView,
    PatronView,
    RegistrationView,
)
from services.circulation.domain.patrons import PatronApplication
from services.circulation.handlers import account
from services.circulation.handlers import patrons as handlers

router = APIRouter(prefix="/api/v1", tags=["patrons"], dependencies=[Depends(library_staff)])


def _cards(creds) -> list[dict]:
    return [
        {"card_number": c.card_number, "status": c.status, "issued_on": c.issued_on}
        for c in creds.cards
    ]


def _change_view(change) -> dict:
    return {
        "patron": account.patron_view(change.patron),
        "cards": _cards(change.credentials),
        "smart_id": {"status": change.credentials.smart_id.status}
        if change.credentials.smart_id
        else None,
        "charge": {
            "entry_id": change.charge.entry_id,
            "kind": change.charge.kind,
            "amount_minor": change.charge.amount.amount_minor,
            "currency": change.charge.amount.currency,
            "rule": change.charge.rule,
        }
        if change.charge
        else None,
    }


@router.post(
    "/patrons",
    response_model=RegistrationView,
    status_code=201,
    summary="Register a patron (HKPL-16 guarantor)",
)
async def register(
    body: Registration,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)
    # The password is never part of what is remembered for a retry.
    payload = body.model_dump(mode="json", exclude={"password"})

    async def work(conn):
        g = body.guarantor
        link = None
        fields = body.model_dump(exclude={"card_number", "password", "hkid_number", "guarantor"})
        if g is not None and g.links:
            link = handlers.GuarantorLink(
                relationship=g.relationship, patron_id=g.patron_id, card_number=g.card_number
            )
        elif g is not None:
            fields["guarantor"] = g.model_dump(exclude={"patron_id", "card_number"})
        application = PatronApplication(library=lib.code, **fields)
        patron, creds = await handlers.register(
            conn,
            lib,
            application,
            card_number=body.card_number,
            password=body.password,
            hkid_number=body.hkid_number,
            guarantor_link=link,
        )
        return {"patron": account.patron_view(patron), "cards": _cards(creds)}

    return await idempotent(post, payload, work)


@router.get(
    "/patrons/{patron_id}",
    response_model=AccountView,
    summary="The account: standing, loans, holds, charges",
)
async def get_account(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    return await read_only(request, lambda conn: account.summary(conn, lib, patron_id))


@router.patch(
    "/patrons/{patron_id}",
    response_model=PatronView,
    summary="Change of address, e-mail, phone or language",
)
async def change_contact(
    patron_id: str, body: ContactChange, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    changes = body.model_dump(exclude_unset=True)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        patron = await handlers.change_contact(conn, lib, patron_id, changes)
    return account.patron_view(patron)


@router.put(
    "/patrons/{patron_id}/guarantor",
    response_model=PatronView,
    summary="Link the guarantor, a registered adult patron (HKPL-16)",
)
async def set_guarantor(
    patron_id: str, body: GuarantorLinkBody, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    link = handlers.GuarantorLink(
        relationship=body.relationship, patron_id=body.patron_id, card_number=body.card_number
    )
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        patron = await handlers.set_guarantor(conn, lib, patron_id, link)
    return account.patron_view(patron)


@router.put("/patrons/{patron_id}/password", status_code=204, summary="Set the password")
async def set_password(
    patron_id: str, body: Password, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        await handlers.set_password(conn, lib, patron_id, body.password)


@router.post(
    "/patrons/{patron_id}/sign-in/unlock", status_code=204, summary="Lift a sign-in lock-out"
)
async def unlock(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        await handlers.unlock_sign_in(conn, lib, patron_id)


@router.post(
    "/patrons/{patron_id}/cards",
    response_model=CardsView,
    status_code=201,
    summary="Issue a library card",
)
async def issue_card(
    patron_id: str,
    body: NewCard,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        creds = await handlers.issue_card(
            conn, lib, patron_id, body.card_number.upper(), guarantor_card=body.guarantor_card
        )
        return {"patron_id": patron_id, "cards": _cards(creds)}

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/cards/{card_number}/lost",
    response_model=CredentialChangeView,
    summary="Report a library card lost (HKPL-15)",
)
async def report_card_lost(card_number: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change = await handlers.report_card_lost(conn, lib, card_number.upper())
    return _change_view(change)


@router.post(
    "/cards/{card_number}/replacement",
    response_model=CredentialChangeView,
    status_code=201,
    summary="Issue a replacement card; its fee is charged (HKPL-12)",
)
async def replace_card(
    card_number: str,
    body: Replacement,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        change = await handlers.replace_card(
            conn, lib, card_number.upper(), body.new_card_number.upper()
        )
        return _change_view(change)

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/cards/{card_number}/cancel",
    response_model=CredentialChangeView,
    summary="Cancel a library card (HKPL-17)",
)
async def cancel_card(card_number: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change = await handlers.cancel_card(conn, lib, card_number.upper())
    return _change_view(change)


@router.post(
    "/patrons/{patron_id}/smart-id",
    response_model=CredentialChangeView,
    status_code=201,
    summary="Register the smart ID card for library use (HKPL-14 fields only)",
)
async def apply_smart_id(
    patron_id: str,
    body: SmartIdReading,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        return _change_view(await handlers.apply_smart_id(conn, lib, patron_id, body.reading))

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/patrons/{patron_id}/smart-id/lost",
    response_model=CredentialChangeView,
    summary="Report the smart ID card lost",
)
async def report_smart_id_lost(
    patron_id: str, body: SmartIdLoss, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change = await handlers.report_smart_id_lost(
            conn, lib, patron_id, continue_with_replacement=body.continue_with_replacement
        )
    return _change_view(change)


@router.post(
    "/patrons/{patron_id}/smart-id/replacement",
    response_model=CredentialChangeView,
    status_code=201,
    summary="The lost smart ID card's replacement takes over (HKPL-19)",
)
async def replace_smart_id(
    patron_id: str,
    body: SmartIdReading,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    lib = staff(request, principal)

    async def work(conn):
        return _change_view(await handlers.replace_smart_id(conn, lib, patron_id, body.reading))

    return await idempotent(post, body.model_dump(), work)


@router.post(
    "/patrons/{patron_id}/smart-id/discontinue",
    response_model=CredentialChangeView,
    summary="Stop using the smart ID card for library services (HKPL-17)",
)
async def discontinue_smart_id(patron_id: str, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        change = await handlers.discontinue_smart_id(conn, lib, patron_id)
    return _change_view(change)
