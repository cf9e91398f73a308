"""The consortium's request broker: the ILL transaction registry, lender selection, the
settlement ledger and dead letters; it serves the operator dashboard."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.federation import Federation
from libs.common.service import ServiceRuntime, create_service_app
from services.requests.api import dead_letters, settlement, transactions
from services.requests.web.app import mount_pages

AUDIENCE = "illfed:requests"


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    app = create_service_app(
        runtime,
        title="illfed request broker",
        audience=AUDIENCE,
        fed=fed,
        secret_key=secret_key,
        token_ttl=token_ttl,
        description="Routes borrow, recall and renewal-approval messages between libraries; "
        "keeps the consortium's view of every ILL transaction; dead letters for operators.",
    )
    app.include_router(dead_letters.router)
    app.include_router(transactions.router)
    app.include_router(settlement.router)
    # The operators' dashboard (/dashboard) and the federation's start page (/start).
    mount_pages(app, runtime, fed, secret_key, app.state.tokens)
    return app
