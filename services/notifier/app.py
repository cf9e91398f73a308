"""The notifier: turns notice requests from the libraries into e-mail, once each."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.federation import Federation
from libs.common.service import ServiceRuntime, create_service_app
from services.notifier.api import mailbox, notices

AUDIENCE = "illfed:notifier"


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    app = create_service_app(
        runtime,
        title="illfed notifier",
        audience=AUDIENCE,
        fed=fed,
        secret_key=secret_key,
        token_ttl=token_ttl,
        description="E-mails patrons the notices their home library asks for, in their "
        "language, exactly once; operators see every notice and its delivery status.",
    )
    app.include_router(notices.router)
    app.include_router(mailbox.router)
    return app
