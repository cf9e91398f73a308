"""The whole notifier service on an in-process bus, and messages as the libraries send them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select

from deploy.queues import federation_queues
from libs.common.auth import client_secret
from libs.common.clock import Clock
from libs.common.contracts import NoticeRequested
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import DIRECT
from libs.common.service import ServiceRuntime
from libs.common.settings import DEV_SECRET
from services.notifier.adapters.tables import notices
from services.notifier.app import create_app
from services.notifier.runtime import build_runtime

QUEUE = "notifier.notices"


@asynccontextmanager
async def running_notifier(
    database_url: str, clock: Clock, **options: Any
) -> AsyncIterator[tuple[ServiceRuntime, MemoryBroker, httpx.AsyncClient]]:
    """The notifier built as the launcher builds it, started, with an HTTP client on its app."""
    fed = default_federation()
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    options.setdefault("poll_interval", 0.05)
    rt = build_runtime(fed, database_url, broker.handle("notifier"), clock, **options)
    await rt.start()
    app = create_app(rt, fed, DEV_SECRET)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://notifier.test") as http:
            yield rt, broker, http
    finally:
        await rt.close()


async def publish_notice(
    broker: MemoryBroker, sender: str, event: NoticeRequested, clock: Clock
) -> str:
    """``sender`` puts a notice request on the notifier's queue; the message id."""
    env = make_envelope(
        event, sender=sender, correlation_id="ill-42", clock=clock, recipient="notifier"
    )
    await broker.handle(sender).publish(
        DIRECT, "notifier", env.model_dump_json().encode(), message_id=env.message_id
    )
    return env.message_id


async def settled(broker: MemoryBroker, timeout: float = 5.0) -> None:
    """Wait until the notifier has acknowledged (or dead-lettered) every request."""
    for _ in range(int(timeout / 0.01)):
        if broker.depth(QUEUE) == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{broker.depth(QUEUE)} notice requests still unhandled")


async def notice_row(rt: ServiceRuntime, notice_id: str) -> dict | None:
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(notices).where(notices.c.notice_id == notice_id))).first()
    return dict(row._mapping) if row else None


async def wait_for_status(
    rt: ServiceRuntime, notice_id: str, status: str, timeout: float = 5.0
) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            row = await notice_row(rt, notice_id)
            if row and row["status"] == status:
                return row
            await asyncio.sleep(0.02)


async def token(http: httpx.AsyncClient, client_id: str) -> dict[str, str]:
    res = await http.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret(DEV_SECRET, client_id),
        },
    )
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}
