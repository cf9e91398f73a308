"""Any unit of the federation (a library's circulation, the catalogue, the broker, the
notifier) built as the launcher builds it, on a migrated SQLite or PostgreSQL database, and
called through its real app."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from deploy.queues import federation_queues
from deploy.units import build_unit, units
from libs.common.clock import ManualClock
from libs.common.db import drop_database, pg_url, sqlite_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET

BACKENDS = ["sqlite", "postgresql"]


@contextlib.asynccontextmanager
async def service_client(
    key: str, backend: str, folder: Path, extras: dict | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """``key`` as in deploy/units.py (``circulation-cityu``, ``catalog``, ``requests``,
    ``notifier``); ``client.tokens.issue(subject, role, library)`` makes its tokens."""
    fed = default_federation()
    unit = next(u for u in units(fed) if u.key == key)
    if backend == "sqlite":
        url = sqlite_url(folder / f"{key}.db")
    else:
        url = pg_url(f"illfed_test_{uuid.uuid4().hex[:10]}")
    await upgrade(unit.service, url)
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    rt, app = await build_unit(
        unit, fed, url, broker.handle(unit.principal), ManualClock(), DEV_SECRET, extras
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{key}.test") as c:
            c.app, c.runtime, c.tokens = app, rt, app.state.tokens  # type: ignore[attr-defined]
            yield c
    finally:
        await rt.engine.dispose()
        await drop_database(url)


def bearer(client: httpx.AsyncClient, role: str, library: str | None, subject: str = ""):
    token = client.tokens.issue(subject or library or "operator", role, library)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}
