"""The demo federation's mailbox: what the local SMTP server received, as a page and as JSON,
so a newcomer sees the e-mails the federation sent.

The mails hold patrons' names, addresses and notices, so both need an operator's sign-in
(a bearer token, or the operator's client id and secret as HTTP Basic, which a browser asks
for) and are there only when the deployment turns them on (``ILLFED_NOTIFIER_MAILBOX_ENABLED``).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from libs.common.auth import (
    Principal,
    current_principal,
    forbidden,
    issuer_of,
    unauthorized,
)
from libs.common.errors import Problem, problem_response

router = APIRouter(tags=["mailbox"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "web"))
BASIC_CHALLENGE = 'Basic realm="illfed mailbox", charset="UTF-8"'


def _mailbox(request: Request):
    extras = request.app.state.runtime.extras
    mailbox = extras.get("mailbox")
    if mailbox is None or not extras.get("mailbox_enabled"):
        raise Problem(
            404,
            "no-mailbox",
            "No local mailbox",
            "this notifier shows no demo mailbox (it sends to a real SMTP server, or the "
            "deployment has not turned the mailbox on)",
        )
    return mailbox


def _caller(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return current_principal(request)
    try:
        client_id, sep, secret = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("the Basic credentials cannot be read") from None
    if not sep:
        raise unauthorized("the Basic credentials cannot be read")
    client = issuer_of(request).authenticate_client(client_id, secret)
    return Principal(client.client_id, client.role, client.library)


def _operator(request: Request) -> None:
    if not _caller(request).is_operator:
        raise forbidden("only consortium operators may read the mailbox")


@router.get(
    "/api/v1/mailbox",
    summary="Messages the local SMTP server received, newest first",
    responses={404: {"description": "The demo mailbox is off in this deployment"}},
)
async def mailbox_json(request: Request, to: str | None = Query(default=None, max_length=254)):
    mailbox = _mailbox(request)
    _operator(request)
    messages = mailbox.messages(to=to)
    return {"items": [m.summary() for m in reversed(messages)]}


@router.get("/mailbox", response_class=HTMLResponse, include_in_schema=False)
async def mailbox_page(request: Request, to: str | None = Query(default=None, max_length=254)):
    mailbox = _mailbox(request)
    try:
        _operator(request)
    except Problem as problem:
        if problem.status != 401:
            raise
        # A browser asks for the operator's client id and secret when told Basic.
        return problem_response(problem, request.url.path, {"WWW-Authenticate": BASIC_CHALLENGE})
    messages = list(reversed(mailbox.messages(to=to)))
    return templates.TemplateResponse(
        request, "mailbox.html", {"messages": messages, "to": to or ""}
    )
