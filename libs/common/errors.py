"""Errors as RFC 9457 ``application/problem+json``: a stable ``type``, a title, the HTTP
status, a plain-language detail and, when a rule refused, the rule IDs. Never a stack trace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

if TYPE_CHECKING:
    from libs.common.policy.decision import Decision

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://illfed.example/problems/"
log = structlog.get_logger("illfed.errors")


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str | None = None,
        *,
        rules: list[str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.type, self.title, self.detail = status, type_, title, detail
        self.rules = rules or []
        self.extra = extra
        #: response headers that go with it (``Retry-After`` for a throttled request)
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_BASE + self.type,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        if self.rules:
            doc["rules"] = self.rules
        doc.update(self.extra)
        return doc


def problem_response(
    problem: Problem, instance: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        problem.body(instance), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def internal_error() -> Problem:
    """What a client is told of a fault on the service's side: nothing of its inside."""
    return Problem(
        500,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; the operators have been told.",
    )


def validation_problem(errors: Iterable[Mapping[str, Any]], *, listed: bool = True) -> Problem:
    """422 for a body or a model that is not valid: each error's location and message, in the
    detail and (``listed``) as ``errors``."""
    found = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
        for e in errors
    ]
    detail = "; ".join(f"{e['location']}: {e['message']}" for e in found)[:1000]
    problem = Problem(422, "validation-error", "The request is not valid", detail)
    if listed:
        problem.extra["errors"] = found
    return problem


def refusal_problem(decision: Decision, status: int = 409) -> Problem:
    """``renewal refused: the item has been renewed 5 consecutive times (HKPL-03)`` and
    every other refusal, with the rule IDs."""
    return Problem(
        status,
        "rule-refused",
        f"{decision.action.capitalize()} refused",
        "; ".join(decision.messages) or f"{decision.action} refused",
        rules=decision.rules,
        refusals=[
            {
                "rule": r.rule,
                "code": r.code,
                "reason": r.reason,
                "message": r.message,
                **({"item_id": r.item_id} if r.item_id else {}),
            }
            for r in decision.refusals
        ],
    )


_STATUS_TYPES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "The request is not valid"),
    429: ("too-many-requests", "Too many requests"),
}


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers: FastAPI has a route per method, and
    Starlette's 405 names only the first route's."""
    methods: set[str] = set()
    for route in routing.iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the service as problem+json, including ones FastAPI raises."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return problem_response(exc, request.url.path, {**headers, **exc.headers} or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        type_, title = _STATUS_TYPES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(
            Problem(exc.status_code, type_, title, detail), request.url.path, headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem_response(validation_problem(exc.errors()), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
        return problem_response(internal_error(), request.url.path)


def _sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a database error, from the driver's error or the one it wraps."""
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)
        if code:
            return str(code)
    return ""


#: SQLSTATE classes of a database that is away or full rather than of a bad request
UNAVAILABLE_CLASSES = ("08", "53", "57P")


def install_database_handlers(app: FastAPI) -> None:
    """A value the database cannot store is the client's 422, a race the database settled
    (two requests for the same copy, the same card number) the loser's 409; any other
    database error stays the service's own 500."""

    def _unstorable(request: Request) -> JSONResponse:
        problem = Problem(
            422,
            "invalid-value",
            "The request is not valid",
            "the request holds a value that cannot be stored (a NUL character or a number "
            "out of range)",
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError):
        # SQLite's driver refuses an integer beyond 64 bits itself, before the database
        # sees it, so it is not a DBAPIError; it is the same unstorable value.
        return _unstorable(request)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError):
        if isinstance(exc, IntegrityError):
            return await _integrity(request, exc)
        code = _sqlstate(exc)
        if code.startswith("22"):
            # SQL class 22, data exception: a NUL character, a number too large to store.
            return _unstorable(request)
        if code.startswith(UNAVAILABLE_CLASSES) or exc.connection_invalidated:
            # The database is away or full (class 08: connection exception; 53: insufficient
            # resources, e.g. too many clients; 57P: shutting down): nothing was done, and the
            # same request will work in a moment.
            log.warning("database unavailable", path=request.url.path, error=repr(exc))
            problem = Problem(
                503,
                "database-unavailable",
                "Service unavailable",
                "the library's database cannot take the request just now; nothing was done, "
                "try again in a moment",
            )
            return problem_response(problem, request.url.path, headers={"Retry-After": "2"})
        log.error("database error", path=request.url.path, error=repr(exc))
        return problem_response(internal_error(), request.url.path)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        # Two requests raced for the same thing (a copy, a card number); the loser is told.
        problem = Problem(
            409, "conflict", "Conflict", "the change conflicts with another one; try again"
        )
        return problem_response(problem, request.url.path)
