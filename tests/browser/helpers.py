"""Signing in through the pages, and setting a scene through the public APIs."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.browser.conftest import accessible


def sign_in_patron(page, federation, library: str, card: str, secret: str) -> None:
    page.goto(federation.url(library, "/portal/"))
    accessible(page, "portal-sign-in")
    page.get_by_label(re.compile("card number|圖書證號碼")).fill(card)
    page.get_by_label(re.compile("Password|密碼")).fill(secret)
    page.get_by_role("button", name=re.compile("Sign in|登入")).click()
    page.wait_for_url(re.compile(r"/portal/account"))


def sign_in_desk(page, federation, library: str, as_client: str | None = None) -> None:
    client = as_client or library
    page.goto(federation.url(library, "/desk/sign-in"))
    accessible(page, "desk-sign-in")
    page.get_by_label(re.compile("Client id|用戶編號")).fill(client)
    page.get_by_label(re.compile("Client secret|密鑰")).fill(federation.secret(client))
    page.get_by_role("button", name=re.compile("Sign in|登入")).click()


def token(federation, unit: str, client_id: str) -> str:
    res = httpx.post(
        federation.url(unit, "/api/v1/auth/token"),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": federation.secret(client_id),
        },
    )
    res.raise_for_status()
    return res.json()["access_token"]


def patron_requests(federation, library: str, card: str, title: str, pickup: str) -> str:
    """A patron's ILL request through the self-service API; its transaction id."""
    session = httpx.post(
        federation.url(library, "/api/v1/patron-sessions"),
        json={"identifier": card, "secret": "demo-reader"},
    )
    session.raise_for_status()
    found = httpx.get(
        federation.url("catalog", "/api/v1/search"),
        params={"q": title, "scope": "consortium", "home_library": library},
    ).json()
    record = next(r for r in found["results"] if r["title"] == title)
    res = httpx.post(
        federation.url(library, "/api/v1/me/ill-requests"),
        json={"record_id": record["id"], "pickup_location": pickup},
        headers={
            "Authorization": f"Bearer {session.json()['access_token']}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    res.raise_for_status()
    return res.json()["transaction_id"]
