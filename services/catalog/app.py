"""The union catalogue: every member's records and holdings, searchable across the consortium."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.federation import Federation
from libs.common.service import ServiceRuntime, create_service_app
from services.catalog.api import holdings, records, search

AUDIENCE = "illfed:catalog"


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    app = create_service_app(
        runtime,
        title="illfed union catalogue",
        audience=AUDIENCE,
        fed=fed,
        secret_key=secret_key,
        token_ttl=token_ttl,
        description="Bibliographic records and holdings of every member library, with "
        "availability as last reported by each owner.",
    )
    app.state.federation = fed
    app.include_router(search.router)
    app.include_router(records.router)
    app.include_router(holdings.router)
    return app
