"""A library's circulation service on a migrated database, called through its real app."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from deploy.queues import federation_queues
from libs.common.auth import client_secret
from libs.common.clock import ManualClock
from libs.common.db import drop_database, pg_url, sqlite_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.circulation.app import create_app
from services.circulation.runtime import build_runtime


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgresql"])
async def cityu(request, tmp_path, clock):
    """CityU's circulation service, on SQLite (embedded) and on PostgreSQL (distributed)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "cityu.db")
    else:
        url = pg_url(f"illfed_test_{uuid.uuid4().hex[:10]}")
    await upgrade("circulation", url)
    broker = MemoryBroker()
    broker.declare(federation_queues(default_federation()))
    rt = build_runtime("cityu", url, broker.handle("cityu"), clock)
    app = create_app(rt, default_federation(), DEV_SECRET)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cityu.test") as client:
        client.runtime = rt
        client.broker = broker
        yield client
    await rt.engine.dispose()
    await drop_database(url)


async def token_for(client: httpx.AsyncClient, client_id: str) -> str:
    res = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret(DEV_SECRET, client_id),
        },
    )
    assert res.status_code == 200, res.text
    return res.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BOOK = {
    "barcode": "CU0001",
    "title": "香港歷史",
    "authors": ["劉智鵬"],
    "isbn": "9789620441234",
    "language": "zh",
    "material_type": "book",
    "service_point": "main",
    "call_number": "DS796.H757 L58 2019",
}


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """Every service of a small seeded federation on SQLite (see ``seeded``)."""
    from tests.integration.api.seeded import seeded_federation

    services = seeded_federation(tmp_path_factory.mktemp("federation"))
    yield services
    for service in services.values():
        asyncio.run(service.runtime.engine.dispose())
