"""What every service process is made of: a runtime (database engine, bus handle, outbox
relay, consumers, periodic jobs) and a FastAPI app with health, readiness, the token endpoint,
problem+json errors, a body-size limit and correlation ids in the logs.

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
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.auth import TokenIssuer, TokenResponse, token_endpoint
from libs.common.clock import Clock
from libs.common.errors import Problem, install_problem_handlers, problem_response
from libs.common.logs import bind_correlation, reset_request_context
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.openapi import install_openapi

log = structlog.get_logger("illfed.service")
MAX_BODY_BYTES = 5 * 1024 * 1024


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
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self) -> None:
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

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            checks["bus"] = "ok" if await self.bus.ping() else "unreachable"
        except Exception as exc:
            checks["bus"] = f"unreachable: {type(exc).__name__}"
        return checks


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    tokens: TokenIssuer,
    version: str = "1.0.0",
) -> FastAPI:
    """The common shape of every service's app; the service adds its routers under /api/v1."""
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

    @app.middleware("http")
    async def _context(request: Request, call_next):
        reset_request_context(runtime.name)
        bind_correlation(request.headers.get("x-correlation-id") or str(uuid.uuid4()))
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return problem_response(
                Problem(
                    413,
                    "payload-too-large",
                    "Request body too large",
                    f"the body may be at most {MAX_BODY_BYTES} bytes",
                ),
                request.url.path,
            )
        return await call_next(request)

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @app.get("/ready", tags=["operations"], summary="Database and bus are reachable")
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
