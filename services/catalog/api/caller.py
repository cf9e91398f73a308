"""Who is calling the catalogue, and for which home library results are judged.

Searching is open to anyone (a union catalogue is public); whether a title may be requested
depends on the patron's home library, taken from the first of:

* a patron token (role ``patron``: its library is the patron's home library) or a library
  token (role ``library``: a library system searching for its own patrons);
* the ``home_library`` query parameter, for anonymous browsing and for operators, who belong
  to no library.

A token and a ``home_library`` that disagree are refused rather than one silently winning.
"""

from __future__ import annotations

from fastapi import Request

from libs.common.auth import Principal, current_principal
from libs.common.errors import Problem
from libs.common.federation import Federation
from libs.common.openapi import token_optional
from services.catalog.domain.query import Patron


def federation_of(request: Request) -> Federation:
    return request.app.state.federation


@token_optional
async def optional_principal(request: Request) -> Principal | None:
    """The caller when a token is sent (an invalid or expired one is a 401), else None."""
    header = request.headers.get("authorization", "")
    if not header and "illfed_session" not in request.cookies:
        return None
    return current_principal(request)


def unknown_library(code: str, what: str = "library") -> Problem:
    return Problem(
        422,
        "unknown-library",
        "Unknown library",
        f"{what} {code!r} is not a member library of the federation",
    )


def searching_patron(
    request: Request, principal: Principal | None, home_library: str | None
) -> Patron | None:
    """The patron whose requestability the results show, or None (anonymous, no
    ``home_library``)."""
    fed = federation_of(request)
    home = home_library
    if principal is not None and principal.role in ("patron", "library"):
        if home_library is not None and home_library != principal.library:
            raise Problem(
                422,
                "home-library-mismatch",
                "Home library does not match the token",
                f"your token is for {principal.library!r}; leave home_library out or give "
                "that library",
            )
        home = principal.library
    if home is None:
        return None
    members = {lib.code: lib for lib in fed.libraries}
    if home not in members:
        raise unknown_library(home, "home library")
    return Patron(home, members[home].consortium)


def require_loader(principal: Principal) -> Principal:
    """Only library systems load records, each its own holdings: operators look at the
    catalogue, they do not write libraries' holdings (the owner is the authority)."""
    if principal.role != "library":
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            "records are loaded by a library system, with its own holdings",
        )
    return principal
