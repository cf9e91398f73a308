"""Errors as RFC 9457 ``application/problem+json``: a stable ``type``, a title, the HTTP
status, a plain-language detail and, when a rule refused, the rule IDs. Never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc, request.url.path, headers)

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
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
            for e in exc.errors()
        ]
        return problem_response(
            Problem(
                422,
                "validation-error",
                "The request is not valid",
                "; ".join(f"{e['location']}: {e['message']}" for e in errors)[:1000],
                errors=errors,
            ),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
        return problem_response(
            Problem(
                500,
                "internal-error",
                "Internal error",
                "Something went wrong on our side; the operators have been told.",
            ),
            request.url.path,
        )
