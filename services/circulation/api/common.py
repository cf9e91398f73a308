"""What the circulation routes share: the library's handler context, who may call, the
``Idempotency-Key`` wrapper for creating POSTs, and the problem documents of the handlers'
errors (a rule refusal names every rule that refused)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import changes, idempotency
from libs.common.auth import CurrentPrincipal, Principal, forbidden, require_library
from libs.common.db import reading
from libs.common.errors import (
    Problem,
    install_database_handlers,
    problem_response,
    refusal_problem,
    validation_problem,
)
from libs.common.policy import ChargeError
from services.circulation.adapters.tables import idempotency as idem_table
from services.circulation.domain.errors import DomainError
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused

log = structlog.get_logger("illfed.circulation")


def lib_of(request: Request) -> Library:
    return request.app.state.circulation


def staff(request: Request, principal: Principal) -> Library:
    """Library A's systems and staff act only on A's patrons. Unlike items, patrons are not
    open to consortium operators either: the home library alone holds its patrons' personal
    data (privacy)."""
    lib = lib_of(request)
    require_library(principal, lib.code)
    if principal.role != "library":
        raise forbidden("only the library's own staff and systems may act on its patrons")
    return lib


async def library_staff(request: Request, principal: CurrentPrincipal) -> None:
    """:func:`staff` as a router dependency: checked before the body is read, so a caller
    who may not act is told so (403) rather than how its body was wrong (422)."""
    staff(request, principal)


def signed_in_patron(request: Request, principal: Principal) -> tuple[Library, str]:
    """The patron of a self-service call: a patron session of this library."""
    lib = lib_of(request)
    if principal.role != "patron" or principal.library != lib.code:
        raise forbidden("sign in as a patron of this library first")
    return lib, principal.subject


PostOnce = Annotated[idempotency.IdempotentPost, Depends(idempotency.idempotent_post(idem_table))]
"""A creating POST's ``Idempotency-Key`` boundary, in the library's own key table."""


async def idempotent(
    post: idempotency.IdempotentPost,
    payload: Any,
    work: Callable[[AsyncConnection], Awaitable[Any]],
    status: int = 201,
) -> JSONResponse:
    """Run ``work`` in one unit of work; a retry with the same ``Idempotency-Key`` gets the
    first answer again instead of doing it twice. A refused outcome is committed (the
    refusal's notice) and answered; the key is not used up, so a retry is decided again, and
    the notice's stable id keeps it to one e-mail."""
    return await post.run(payload, work, status)


async def read_only(request: Request, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    """``work``'s reads (without a transaction, :func:`libs.common.db.reading`: a GET, a desk
    or a partner system polling a request, saves the BEGIN and ROLLBACK round trips around
    them). The answer is returned as ``work`` made it: the route's response model (or
    FastAPI's encoder, for a route without one) turns it into JSON, once."""
    async with reading(request.app.state.runtime.engine) as conn:
        return await work(conn)


async def read_until(
    request: Request,
    transaction_id: str,
    load: Callable[[AsyncConnection], Awaitable[Mapping[str, Any]]],
    view: Callable[[AsyncConnection, Mapping[str, Any]], Awaitable[Any]],
    until: list | None,
    wait: float,
) -> Any:
    """The ILL transaction's ``view`` of the record ``load`` reads, answered once the
    record's state is one of ``until`` or after ``wait`` seconds (a partner system or a desk
    waiting for a step without polling): loaded again each time a unit of work of this
    process changes it. Only the record is read while its state is not the one waited for;
    the view's other reads (its history) are made once, for the answer, on the connection
    that read the record in the state waited for."""
    wanted = frozenset(str(s) for s in until or ())
    if not wanted:
        return await read_only(request, lambda conn: _viewed(conn, load, view))

    async def look(conn: AsyncConnection) -> tuple[Mapping[str, Any], Any]:
        row = await load(conn)
        return row, (await view(conn, row) if str(row["state"]) in wanted else None)

    row, answer = await changes.until(
        request.app.state.runtime.changes,
        changes.ill_transaction(transaction_id),
        lambda: read_only(request, look),
        lambda looked: looked[0]["state"],
        wanted,
        wait,
        missing=(NotFound,),
    )
    if answer is None:  # the wait is over in another state
        answer = await read_only(request, lambda conn: view(conn, row))
    return answer


async def _viewed(conn: AsyncConnection, load, view) -> Any:
    return await view(conn, await load(conn))


def install_circulation_errors(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused):
        return problem_response(refusal_problem(exc.decision, exc.status), request.url.path)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return problem_response(Problem(404, "not-found", "Not found", exc.what), request.url.path)

    @app.exception_handler(Invalid)
    async def _invalid(request: Request, exc: Invalid):
        problem = Problem(422, "invalid-request", "The request cannot be carried out", str(exc))
        return problem_response(problem, request.url.path)

    @app.exception_handler(ChargeError)
    async def _charge(request: Request, exc: ChargeError):
        problem = Problem(422, "invalid-charge", "The charge cannot be computed", str(exc))
        return problem_response(problem, request.url.path)

    @app.exception_handler(DomainError)
    async def _state(request: Request, exc: DomainError):
        problem = Problem(409, exc.code.replace("_", "-"), "Conflict", str(exc))
        return problem_response(problem, request.url.path)

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError):
        problem = validation_problem(exc.errors(), listed=False)
        return problem_response(problem, request.url.path)

    install_database_handlers(app)
