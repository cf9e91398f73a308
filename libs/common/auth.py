"""Authentication every endpoint uses.

Library systems and operators exchange client credentials for a signed token (HS256 JWT) that
names its audience (the one service it is good for) and expires; patrons get a session token
of the same kind from their home library. Every time claim (``exp``, ``iat``, ``nbf``) is
checked against the injectable clock, never the machine's.
A request from library A may act only on A's own items and patrons (:func:`require_library`);
operators may look at every library's items but change none (:func:`require_owner`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Form, Request
from pydantic import BaseModel

from libs.common.clock import Clock
from libs.common.errors import Problem
from libs.common.federation import Federation
from libs.common.settings import derived_secret

ISSUER = "illfed"
ALGORITHM = "HS256"
# Seconds a token may seem issued (or valid from) in the future: the clocks of two processes
# of a distributed deployment differ by a little. Expiry has none: a token never outlives
# its ttl.
CLOCK_LEEWAY_SECONDS = 30
Role = Literal["library", "operator", "patron"]


@dataclass(frozen=True)
class Principal:
    subject: str  # library code, operator client id, or patron id
    role: Role
    library: str | None  # the library it acts for (a patron's home library)
    session: str | None = None  # a patron session's id (the ``sid`` claim)

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    role: Role
    library: str | None


def client_secret(secret_key: str, client_id: str) -> str:
    """The development client secret of a library or operator, derived from the deployment
    secret (a production deployment sets the same value in its own secret store)."""
    return derived_secret(secret_key, f"client:{client_id}")


def federation_clients(fed: Federation, secret_key: str) -> dict[str, Client]:
    clients = {
        lib.code: Client(lib.code, client_secret(secret_key, lib.code), "library", lib.code)
        for lib in fed.libraries
    }
    for op in fed.operators:
        clients[op.client_id] = Client(
            op.client_id, client_secret(secret_key, op.client_id), "operator", None
        )
    return clients


#: verified tokens a service keeps the claims of (forgotten all at once when full)
VERIFIED_TOKENS_KEPT = 4096


class TokenIssuer:
    """Issues and verifies the tokens of one service (its audience)."""

    def __init__(
        self,
        secret_key: str,
        audience: str,
        clock: Clock,
        ttl_seconds: int = 3600,
        clients: dict[str, Client] | None = None,
    ) -> None:
        self.secret_key, self.audience, self.clock = secret_key, audience, clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clients = clients or {}
        # Set by a service that keeps patron sessions: whether the session a patron token
        # names is still live (not signed out, not ended by a lost card or a new password).
        self.session_check: Callable[[Principal], Awaitable[bool]] | None = None
        # Tokens whose signature, audience and issuer were checked, with their claims: a
        # client sends the same token with each request, and checking its signature again
        # is most of what verifying costs. The times (and, for a patron, the session) are
        # still judged on every request.
        self._verified: dict[str, dict] = {}

    def issue(
        self,
        subject: str,
        role: Role,
        library: str | None,
        audience: str | None = None,
        ttl: timedelta | None = None,
        session: str | None = None,
    ) -> str:
        now = self.clock.now()
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": subject,
            "aud": audience or self.audience,
            "role": role,
            "lib": library,
            "iat": int(now.timestamp()),
            "exp": int((now + (ttl or self.ttl)).timestamp()),
        }
        if session is not None:
            claims["sid"] = session
        return jwt.encode(claims, self.secret_key, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.clear()
            self._verified[token] = claims
        check_times(claims, self.clock.now().timestamp())
        role = claims.get("role")
        if role not in ("library", "operator", "patron"):
            raise unauthorized("the token names no known role")
        session = claims.get("sid")
        return Principal(
            claims["sub"], role, claims.get("lib"), session if isinstance(session, str) else None
        )

    def _decode(self, token: str) -> dict:
        try:
            return jwt.decode(
                token,
                self.secret_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                # PyJWT would judge the time claims by the machine's clock; they are checked
                # below against the federation's clock instead.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "aud", "sub", "iss"],
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise unauthorized("the token is not meant for this service") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized("the token is not valid") from exc

    def authenticate_client(self, client_id: str, secret: str) -> Client:
        client = self.clients.get(client_id)
        # Compare even when the client is unknown so timing does not tell which ids exist.
        expected = client.secret if client else "x" * 32
        if not hmac.compare_digest(expected.encode(), secret.encode()) or client is None:
            raise unauthorized("unknown client or wrong secret")
        return client


def check_times(claims: dict, now: float) -> None:
    """``exp``, ``iat`` and ``nbf`` against ``now`` (the injectable clock's instant)."""
    times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
    if any(
        v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
        for v in times.values()
    ):
        raise unauthorized("the token is not valid")
    expires = times["exp"]
    if expires is None or expires <= now:
        raise unauthorized("the token has expired")
    for name in ("iat", "nbf"):
        moment = times[name]
        if moment is not None and moment > now + CLOCK_LEEWAY_SECONDS:
            raise unauthorized("the token is not valid yet")


def unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Not authenticated", detail)


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


def issuer_of(request: Request) -> TokenIssuer:
    return request.app.state.tokens


def current_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer`` or the patron session cookie.

    A plain function that async dependencies call, never a dependency itself: FastAPI runs a
    plain dependency in its thread pool, a thread hop on every request for work that never
    blocks. Every dependency below is async for the same reason."""
    header = request.headers.get("authorization", "")
    token = None
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif "illfed_session" in request.cookies:
        token = request.cookies["illfed_session"]
    if not token:
        raise unauthorized("a bearer token is required")
    return issuer_of(request).verify(token)


async def live_principal(request: Request) -> Principal:
    """The caller, as :func:`current_principal`; a patron's session must also still be live
    where the service keeps sessions (a token outlives its session's end otherwise)."""
    principal = current_principal(request)
    check = issuer_of(request).session_check
    if principal.role == "patron" and check is not None and not await check(principal):
        raise unauthorized("the session has ended; sign in again")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(live_principal)]


async def require_operator(principal: CurrentPrincipal) -> Principal:
    if not principal.is_operator:
        raise forbidden("only consortium operators may do this")
    return principal


def require_library(principal: Principal, library: str) -> None:
    """Library A may act only on A's own items and patrons; operators may look at all."""
    if principal.is_operator:
        return
    if principal.role != "library" or principal.library != library:
        raise forbidden(f"{principal.subject} may not act on {library}'s items or patrons")


def require_owner(principal: Principal, library: str) -> None:
    """Only library A itself changes A's items: operators look, they do not write."""
    if principal.role != "library" or principal.library != library:
        raise forbidden(f"only {library} itself may change {library}'s items")


def token_endpoint(
    request: Request,
    grant_type: Annotated[str, Form(max_length=40)],
    client_id: Annotated[str, Form(max_length=80)],
    client_secret: Annotated[str, Form(max_length=200)],
) -> TokenResponse:
    """OAuth 2 client-credentials grant: a token for this service, for one hour."""
    if grant_type != "client_credentials":
        raise Problem(
            400,
            "unsupported-grant-type",
            "Unsupported grant type",
            "only grant_type=client_credentials is supported",
        )
    tokens = issuer_of(request)
    client = tokens.authenticate_client(client_id, client_secret)
    token = tokens.issue(client.client_id, client.role, client.library)
    return TokenResponse(access_token=token, expires_in=int(tokens.ttl.total_seconds()))
