"""The circulation service of one member library: the authority over its items and patrons."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.auth import TokenIssuer, federation_clients
from libs.common.federation import Federation
from libs.common.service import ServiceRuntime, create_service_app
from services.circulation.api import items


def audience(library: str) -> str:
    return f"illfed:circulation:{library}"


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    library = runtime.extras["library"]
    name = fed.library(library).name
    tokens = TokenIssuer(
        secret_key, audience(library), runtime.clock, token_ttl, federation_clients(fed, secret_key)
    )
    app = create_service_app(
        runtime,
        title=f"illfed circulation — {name}",
        tokens=tokens,
        description=f"Circulation service of {name}: items, patrons, loans, holds and fines.",
    )
    app.include_router(items.router)
    return app
