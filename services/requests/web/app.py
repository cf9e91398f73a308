"""Mounting the broker's pages: the start page at ``/start`` (``/`` leads there) and the
operators' dashboard at ``/dashboard``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from libs.common.auth import TokenIssuer
from libs.common.federation import Federation
from libs.common.service import ServiceRuntime
from libs.common.web import Pages, web_app
from services.requests.web import dashboard, start

TEMPLATES = Path(__file__).resolve().parent / "templates"
ZH = {
    "Operators' dashboard": "營運人員控制台",
    "illfed — start here": "illfed — 由此開始",
}


def mount_pages(
    app: FastAPI, runtime: ServiceRuntime, fed: Federation, secret_key: str, tokens: TokenIssuer
) -> None:
    state = {"runtime": runtime, "fed": fed, "tokens": tokens, "secret_key": secret_key}
    for prefix, router, scope in (
        ("/dashboard", dashboard.router, "requests"),
        ("/start", start.router, "start"),
    ):
        layout = "dashboard_base.html" if router is dashboard.router else "base.html"
        pages = Pages(
            TEMPLATES,
            scope=scope,
            secret_key=secret_key,
            prefix=prefix,
            translations=ZH,
            globals={"layout": layout},
        )
        sub = web_app(pages, **state)
        sub.include_router(router)
        if router is dashboard.router:
            sub.add_exception_handler(
                dashboard.OperatorSignInFirst, dashboard.operator_sign_in_redirect
            )
        app.mount(prefix, sub)

    @app.get("/", include_in_schema=False)
    async def front_door():
        return RedirectResponse("/start/", status_code=307)
