"""The demo federation's mailbox: what the local SMTP server received, as a page and as JSON,
so a newcomer sees the e-mails the federation sent."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from libs.common.errors import Problem

router = APIRouter(tags=["mailbox"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "web"))


def _mailbox(request: Request):
    mailbox = request.app.state.runtime.extras.get("mailbox")
    if mailbox is None:
        raise Problem(
            404,
            "no-mailbox",
            "No local mailbox",
            "this notifier sends to a real SMTP server, not the demo mailbox",
        )
    return mailbox


@router.get(
    "/api/v1/mailbox",
    summary="Messages the local SMTP server received, newest first",
    responses={404: {"description": "This notifier sends to a real SMTP server"}},
)
async def mailbox_json(request: Request, to: str | None = None):
    messages = _mailbox(request).messages(to=to)
    return {"items": [m.summary() for m in reversed(messages)]}


@router.get("/mailbox", response_class=HTMLResponse, include_in_schema=False)
async def mailbox_page(request: Request, to: str | None = None):
    messages = list(reversed(_mailbox(request).messages(to=to)))
    return templates.TemplateResponse(
        request, "mailbox.html", {"messages": messages, "to": to or ""}
    )
