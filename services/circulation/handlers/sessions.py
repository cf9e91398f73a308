"""Patron sessions (HKPL-08 sign-in): each session token names a session kept here, so that
it can end before its token expires: the patron signs out, reports a card lost, gets a new
password or phone number, or gives up the account."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import sessions_repo
from services.circulation.handlers.context import Library


async def start(
    conn: AsyncConnection, lib: Library, patron_id: str, *, card_number: str | None, ttl: timedelta
) -> str:
    session_id = secrets.token_urlsafe(24)
    now = lib.now()
    await sessions_repo.start(
        conn, session_id, patron_id, card_number=card_number, at=now, expires_at=now + ttl
    )
    return session_id


async def is_live(conn: AsyncConnection, lib: Library, session_id: str, patron_id: str) -> bool:
    return await sessions_repo.is_live(conn, session_id, patron_id, lib.now())


async def sign_out(conn: AsyncConnection, lib: Library, session_id: str) -> None:
    await sessions_repo.end(conn, session_id, at=lib.now(), reason="signed_out")


async def end_all(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    reason: str,
    *,
    card_number: str | None = None,
) -> None:
    await sessions_repo.end_all(
        conn, patron_id, at=lib.now(), reason=reason, card_number=card_number
    )
