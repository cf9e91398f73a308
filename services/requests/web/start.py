"""The federation's front door: every library's patron portal and circulation desk, the
operators' dashboard, the demo mailbox and each service's API docs, with the demo sign-ins
when the embedded demo runs (its secrets are the development ones)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libs.common.auth import client_secret
from libs.common.federation import Federation

router = APIRouter()
DEMO_SIGNINS = "ILLFED_REQUESTS_DEMO_SIGNINS"


def demo_signins_shown() -> bool:
    return os.environ.get(DEMO_SIGNINS, "").lower() in ("1", "true", "yes", "on")


def demo_patron(code: str) -> str:
    """The demo patron of a library (deploy/seed.py and services/circulation/seed.py)."""
    if code == "hkpl":
        return "HKPL000001 / demo-reader (or HKID A123456(3) with phone digits 4567)"
    return f"{code.upper()}000001 / demo-reader"


@router.get("/")
async def start_page(request: Request) -> Response:
    fed: Federation = request.app.state.fed
    show = demo_signins_shown()
    secret_key: str = request.app.state.secret_key
    libraries = []
    for lib in fed.libraries:
        base = fed.url(lib.port)
        libraries.append(
            {
                "code": lib.code,
                "name": lib.name,
                "name_zh": lib.names.get("zh-Hant"),
                "consortium": lib.consortium,
                "portal": f"{base}/portal/",
                "desk": f"{base}/desk/",
                "docs": f"{base}/docs",
                "patron": demo_patron(lib.code) if show else None,
                "desk_secret": client_secret(secret_key, lib.code) if show else None,
            }
        )
    services = [(name, fed.url(spec.port)) for name, spec in fed.services.items()]
    operators = [
        (op.client_id, client_secret(secret_key, op.client_id) if show else None)
        for op in fed.operators
    ]
    pages = request.app.state.pages
    return pages.render(
        request,
        "start.html",
        {
            "fed": fed,
            "libraries": libraries,
            "services": services,
            "operators": operators,
            "show": show,
            "dashboard": f"{fed.url(fed.services['requests'].port)}/dashboard/",
            "mailbox": f"{fed.url(fed.services['notifier'].port)}/mailbox",
        },
    )
