"""The OpenAPI document every service publishes: the routes FastAPI describes, plus what
FastAPI cannot see from a route's signature: who may call it (bearer token or patron session)
and the RFC 9457 problem documents it can answer with, each once for every service.

What a route can answer is read from its shape: a token dependency means 401 and 403, a path
parameter 404, parameters or a body 422, a body 400 (it cannot be parsed) and 413, a write
behind a token 409 (a state or a race conflict) and 404 (what its body names), an
``Idempotency-Key`` 400. A route documents anything else itself
(``responses=``); its error responses are then given the shared problem schema too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from libs.common.auth import current_principal, live_principal
from libs.common.errors import PROBLEM_JSON

#: the cookie ``current_principal`` also reads a token from
SESSION_COOKIE = "illfed_session"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document; a rule refusal names its rules.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": True,
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token for this service from POST /api/v1/auth/token (a library's "
        "or an operator's), or a patron's from signing in.",
    },
    "patronSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session cookie set when a patron signs in.",
    },
}
#: either one will do
TOKEN_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"patronSession": []}]
WRITES = {"post", "put", "patch", "delete"}
DESCRIPTIONS = {
    400: "Bad request",
    401: "No token, or an invalid or expired one",
    403: "The caller may not do this",
    404: "Not found",
    409: "Conflicts with the current state or with another change",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "The request is not valid",
    423: "Locked",
}
_OPTIONAL_TOKEN: set[Callable[..., Any]] = set()


def token_optional(dependency: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency that reads the caller's token when one is sent (anonymous callers
    are served too, an invalid token is a 401)."""
    _OPTIONAL_TOKEN.add(dependency)
    return dependency


def api_routes(routes: list) -> Iterator[Any]:
    """Every API route of an app, those of included routers too (FastAPI keeps an included
    router as one entry of ``app.routes``), each with ``path_format``, ``methods`` and
    ``dependant``."""
    for context in routing.iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def needs(route: Any, dependency: Callable[..., Any]) -> bool:
    """Whether ``dependency`` is among the route's dependencies, however deep."""
    return dependency in _calls(route.dependant)


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found = {dependant.call} if dependant.call else set()
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _problem(code: int, response: dict[str, Any] | None = None) -> dict[str, Any]:
    response = dict(response or {})
    if not response.get("description") or response["description"] == "Validation Error":
        response["description"] = DESCRIPTIONS.get(code, "Error")
    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    return response


def document(schema: dict[str, Any], routes: list) -> dict[str, Any]:
    """Add the security schemes, each operation's ``security`` and its problem responses."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        calls = _calls(route.dependant)
        required = bool(calls & {current_principal, live_principal})
        optional = not required and bool(calls & _OPTIONAL_TOKEN)
        path = schema["paths"].get(route.path_format, {})
        for method in route.methods:
            operation = path.get(method.lower())
            if operation is None:
                continue
            params = operation.get("parameters", [])
            body = "requestBody" in operation
            codes: set[int] = set()
            if required or optional:
                operation["security"] = TOKEN_SECURITY + ([{}] if optional else [])
                codes |= {401, 403}
            write = required and method.lower() in WRITES
            # A write names what it acts on in its path or in its body (a patron, a loan).
            if any(p["in"] == "path" for p in params) or (write and body):
                codes.add(404)
            if params or body:
                codes.add(422)
            if body:
                codes |= {400, 413}  # a body that cannot be parsed; one too large
            if write:
                codes.add(409)
            if any(p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in params):
                codes.add(400)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    responses[code] = _problem(int(code), response)
    schemas = components["schemas"]
    text = repr(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f"/{unused}'" not in text:
            del schemas[unused]
    return schema


def install_openapi(app: FastAPI) -> None:
    """Build the app's OpenAPI document once, with :func:`document` applied."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                app.routes,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
