"""The circulation service of one member library: the authority over its items and patrons."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.auth import Principal
from libs.common.federation import Federation
from libs.common.service import create_service_app
from services.circulation.api import (
    card_losses,
    charges,
    clearance,
    holds,
    ill_borrowing,
    ill_lending,
    ill_loss,
    items,
    loans,
    overdue,
    patrons,
    self_service,
)
from services.circulation.api.common import install_circulation_errors
from services.circulation.handlers import sessions
from services.circulation.runtime import CirculationRuntime
from services.circulation.web.app import mount_pages


def audience(library: str) -> str:
    return f"illfed:circulation:{library}"


def create_app(
    runtime: CirculationRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    lib = runtime.library
    library = lib.code
    name = fed.library(library).name
    app = create_service_app(
        runtime,
        title=f"illfed circulation — {name}",
        audience=audience(library),
        fed=fed,
        secret_key=secret_key,
        token_ttl=token_ttl,
        description=f"Circulation service of {name}: items, patrons, loans, holds and fines.",
    )
    app.state.circulation = lib

    async def session_live(principal: Principal) -> bool:
        # A patron token is good only while its session is: not signed out, not ended by a
        # lost card, a new password or a cancelled account (HKPL-08, HKPL-15).
        if principal.session is None or principal.library != library:
            return False
        async with runtime.engine.connect() as conn:
            return await sessions.is_live(conn, lib, principal.session, principal.subject)

    app.state.tokens.session_check = session_live
    install_circulation_errors(app)
    # A request is matched against the routes in this order, one by one, so the desk's
    # busiest (loans and returns, the steps of an inter-library loan) come first. No two
    # routes answer the same request (tests/integration/api/test_openapi.py), so the order
    # changes what a request costs, never where it goes.
    routers = (
        loans.router,
        ill_borrowing.staff_router,
        ill_lending.router,
        ill_borrowing.router,
        items.router,
        patrons.router,
        clearance.router,
        card_losses.router,
        overdue.router,
        holds.router,
        charges.router,
        self_service.router,
        ill_loss.router,
        ill_loss.staff_router,
        ill_loss.lending_router,
    )
    for router in routers:
        app.include_router(router)
    # The patron portal (/portal) and the circulation desk (/desk): pages on the same handlers.
    mount_pages(app, runtime, fed, secret_key, app.state.tokens)
    return app
