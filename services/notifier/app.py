"""The notifier: turns notice requests from the libraries into e-mail, once each."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.auth import TokenIssuer, federation_clients
from libs.common.federation import Federation
from libs.common.service import ServiceRuntime, create_service_app
from services.notifier.api import mailbox, notices

AUDIENCE = "illfed:notifier"


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    tokens = TokenIssuer(
        secret_key, AUDIENCE, runtime.clock, token_ttl, federation_clients(fed, secret_key)
    )
    app = create_service_app(
        runtime,
        title="illfed notifier",
        tokens=tokens,
        description="E-mails patrons the notices their home library asks for, in their "
        "language, exactly once; operators see every notice and its delivery status.",
    )
    app.include_router(notices.router)
    app.include_router(mailbox.router)
    return app
