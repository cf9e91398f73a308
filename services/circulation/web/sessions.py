"""Who is signed in to a library's pages: a patron (portal) or the library's staff (desk).

Each is a token of this service's own audience in a cookie named for the library
(``illfed_<library>_session``, ``illfed_<library>_desk``): on 127.0.0.1 a cookie reaches every
port, and these names keep one library's sign-in away from another library's pages. A
patron's token is good only while its session is (HKPL-08, HKPL-15: signed out, a lost card,
a new password end it)."""

from __future__ import annotations

from fastapi import Request

from libs.common.auth import Principal, TokenIssuer
from libs.common.errors import Problem
from services.circulation.handlers import sessions
from services.circulation.handlers.context import Library

DESK_TTL_SECONDS = 8 * 3600  # a working day at the counter


def patron_cookie(library: str) -> str:
    return f"illfed_{library}_session"


def desk_cookie(library: str) -> str:
    return f"illfed_{library}_desk"


def _verified(tokens: TokenIssuer, token: str | None) -> Principal | None:
    if not token:
        return None
    try:
        return tokens.verify(token)
    except Problem:
        return None  # expired, another service's, tampered with: signed out


async def signed_in_patron(request: Request) -> str | None:
    """The patron id of a live session of this library, or None."""
    state = request.app.state
    lib: Library = state.lib
    principal = _verified(state.tokens, request.cookies.get(patron_cookie(lib.code)))
    if principal is None or principal.role != "patron" or principal.library != lib.code:
        return None
    if principal.session is None:
        return None
    async with state.runtime.engine.connect() as conn:
        if not await sessions.is_live(conn, lib, principal.session, principal.subject):
            return None
    return principal.subject


def session_of(request: Request) -> str | None:
    lib: Library = request.app.state.lib
    principal = _verified(request.app.state.tokens, request.cookies.get(patron_cookie(lib.code)))
    return principal.session if principal else None


def desk_staff(request: Request) -> Principal | None:
    """The library's staff signed in at its desk, or None. A token of another library is
    refused (403): staff of library A see only library A."""
    lib: Library = request.app.state.lib
    principal = _verified(request.app.state.tokens, request.cookies.get(desk_cookie(lib.code)))
    if principal is None:
        return None
    if principal.role != "library" or principal.library != lib.code:
        raise Problem(
            403, "forbidden", "Forbidden", f"this is the desk of {lib.code}; only its staff sign in"
        )
    return principal
