"""Running one service as its own OS process (the distributed way): start its runtime, serve
its app with uvicorn (no access log: structured logs instead), stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI

from libs.common.service import ServiceRuntime


class Server(uvicorn.Server):
    """uvicorn's server; as it shuts down, the app's requests waiting for a change answer at
    once (the server waits for every open request before it stops)."""

    async def shutdown(self, sockets=None) -> None:
        runtime = getattr(getattr(self.config.app, "state", None), "runtime", None)
        if runtime is not None:
            runtime.changes.close()
        await super().shutdown(sockets)


def server_for(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        lifespan="off",
        log_level="warning",
        # uvicorn's own log format would print its tracebacks as raw text: ours renders JSON.
        log_config=None,
    )
    return Server(config)


def keep_startup_objects() -> None:
    """Take what starting made out of the garbage collector's view (``gc.freeze``): a unit
    starts with some 200,000 objects (modules, models, routes, statements) that live as long
    as it does, and each full collection walked them all again, 60-120 ms of CPU a time under
    the ILL load (3-4% of a library's CPU, measured). The garbage of starting is collected
    first, so none of it is kept."""
    gc.collect()
    gc.freeze()


async def serve(
    build: Callable[[], Awaitable[tuple[ServiceRuntime, FastAPI]]], host: str, port: int
) -> None:
    runtime, app = await build()
    await runtime.start()
    keep_startup_objects()
    try:
        await server_for(app, host, port).serve()
    finally:
        await runtime.close()


def run(
    build: Callable[[], Awaitable[tuple[ServiceRuntime, FastAPI]]], host: str, port: int
) -> None:
    asyncio.run(serve(build, host, port))
