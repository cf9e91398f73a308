"""What every service process is made of: a runtime (database engine, bus handle, outbox
relay, consumers, periodic jobs) and a FastAPI app with health, readiness, the token endpoint,
problem+json errors, a body-size limit (counted as the body arrives) and correlation ids in the
logs.

The runtime is started and stopped by whoever runs the service (the embedded launcher for all
of them in one process, ``python -m services.<name>`` for one), never by the app itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common.auth import TokenIssuer, TokenResponse, federation_clients, token_endpoint
from libs.common.changes import Changes
from libs.common.clock import Clock
from libs.common.db import on_change_commit
from libs.common.errors import (
    Problem,
    install_problem_handlers,
    internal_error,
    problem_response,
)
from libs.common.federation import Federation
from libs.common.logs import bind_correlation, reset_request_context
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.openapi import install_openapi

log = structlog.get_logger("illfed.service")
MAX_BODY_BYTES = 5 * 1024 * 1024


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "payload-too-large", "Request body too large", f"the body may be at most {limit} bytes"
    )


class RequestGuard:
    """What stands between the server and a service's app (pure ASGI, so it sees the body as
    it streams in, and costs no extra task or stream per request as Starlette's
    ``BaseHTTPMiddleware`` does):

    * every log line of the request names the service and the request's correlation id (the
      caller's ``X-Correlation-Id``, or a new one);
    * a body whose Content-Length is over the limit is refused (413) before a byte is read;
    * it counts the bytes of every body as they arrive and answers 413 as soon as the count
      passes the limit: a chunked body has no Content-Length to check up front, and the app
      must not read tens of megabytes before saying no;
    * an error nothing else handled becomes a 500 problem document here instead of
      reaching the server, which would also drop the connection.
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES, service: str | None = None
    ) -> None:
        self.app, self.max_body_bytes, self.service = app, max_body_bytes, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation, length = None, None
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                correlation = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        if self.service is not None:
            reset_request_context(self.service)
        bind_correlation(correlation or str(uuid.uuid4()))
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            response = problem_response(_too_large(self.max_body_bytes), scope.get("path"))
            await response(scope, receive, send)
            return
        received, started, answered = 0, False, False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the client has its 413; whatever the app says now goes nowhere
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def guarded_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    if not started:
                        response = problem_response(
                            _too_large(self.max_body_bytes), scope.get("path")
                        )
                        await response(scope, receive, send)
                    answered = True
                    # The app stops reading as if the client had gone.
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception as exc:
            if answered:
                return
            if started:
                raise
            log.error("unhandled error", path=scope.get("path"), error=repr(exc), exc_info=exc)
            await problem_response(internal_error(), scope.get("path"))(scope, receive, send)


@dataclass
class PeriodicJob:
    """A job the service runs by itself (overdue scan, retries); ``every`` in seconds of real
    time, while the job reads dates from the clock."""

    name: str
    run: Callable[[], Awaitable[object]]
    every: float


@dataclass
class ServiceRuntime:
    name: str
    principal: str
    engine: AsyncEngine
    bus: Bus
    clock: Clock
    relay: OutboxRelay | None = None
    #: long-lived parts with ``async start()``/``stop()`` (a mail server, a delivery loop),
    #: started before the consumers and stopped after them
    components: list = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    jobs: list[PeriodicJob] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)
    #: the requests of this process waiting for a record to change (``?until=…&wait=…``)
    changes: Changes = field(default_factory=Changes)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def __post_init__(self) -> None:
        on_change_commit(self.engine, lambda keys: self.changes.changed(keys))

    async def start(self) -> None:
        self.changes.reopen()
        for component in self.components:
            await component.start()
        if self.relay is not None:
            self.relay.start()
        for consumer in self.consumers:
            await consumer.start()
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=job.name))

    async def _loop(self, job: PeriodicJob) -> None:
        while True:
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("periodic job failed", job=job.name, error=repr(exc))
            await asyncio.sleep(job.every)

    async def stop(self) -> None:
        self.changes.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for consumer in self.consumers:
            await consumer.stop()
        if self.relay is not None:
            await self.relay.stop()
        for component in reversed(self.components):
            await component.stop()

    async def close(self) -> None:
        await self.stop()
        await self.bus.close()
        await self.engine.dispose()

    def subscriptions(self) -> dict[str, bool]:
        """Every queue this unit consumes (once started), and whether its consumer is live
        right now."""
        live = {c.queue: c.live for c in self.consumers if c.started}
        for component in self.components:
            consuming = getattr(component, "consuming", None)
            if consuming is not None:
                live.update(consuming())
        return live

    async def readiness(self) -> dict[str, str]:
        """``ok`` for each part that works, else what is wrong with it: the database, the
        connection to the broker, and the consumer of each queue this unit reads."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            up = await self.bus.ping()
            checks["bus"] = "ok" if up else f"connection of {self.principal} to the broker is down"
        except Exception as exc:
            checks["bus"] = f"unreachable: {type(exc).__name__}"
        for queue, live in self.subscriptions().items():
            checks[f"consumer:{queue}"] = "ok" if live else f"no live consumer of {queue}"
        return checks


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    audience: str | None = None,
    fed: Federation | None = None,
    secret_key: str | None = None,
    token_ttl: int = 3600,
    tokens: TokenIssuer | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    """The common shape of every service's app; the service adds its routers under /api/v1.

    Its tokens are for ``audience``, issued to the federation's libraries and operators under
    ``secret_key`` (``app.state.tokens``); ``tokens`` instead hands it an issuer made
    elsewhere."""
    if tokens is None:
        if audience is None or fed is None or secret_key is None:
            raise ValueError("a service app needs its audience, federation and secret key")
        tokens = TokenIssuer(
            secret_key, audience, runtime.clock, token_ttl, federation_clients(fed, secret_key)
        )
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.state.tokens = tokens
    install_problem_handlers(app)
    install_openapi(app)

    # The outermost part of the app: it sees every body and every unhandled error.
    app.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES, service=runtime.name)

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @app.get("/ready", tags=["operations"], summary="Database, bus and every consumer are up")
    async def ready():
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": runtime.name, "checks": checks},
            status_code=200 if ok else 503,
        )

    app.add_api_route(
        "/api/v1/auth/token",
        token_endpoint,
        methods=["POST"],
        response_model=TokenResponse,
        tags=["auth"],
        summary="Exchange client credentials for a token for this service",
        responses={400: {"description": "Unsupported grant type"}, 401: {}, 422: {}},
    )
    return app
