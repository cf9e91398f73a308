"""The catalogue's real app on a test database, called over HTTP in process."""

from __future__ import annotations

import contextlib

import httpx

from deploy.queues import federation_queues
from libs.common.clock import ManualClock
from libs.common.federation import Federation, default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.settings import DEV_SECRET
from services.catalog.app import create_app
from services.catalog.runtime import build_runtime

PROBLEM_JSON = "application/problem+json"


@contextlib.asynccontextmanager
async def catalogue_client(url: str, fed: Federation | None = None):
    """An ``httpx.AsyncClient`` on the catalogue app over ``url``, run with ``fed`` (the
    repository's federation file by default); ``client.app`` is the app and
    ``client.runtime`` its runtime (not started)."""
    fed = fed or default_federation()
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    clock = ManualClock()
    rt = build_runtime(fed, url, broker.handle("catalog"), clock)
    app = create_app(rt, fed, DEV_SECRET)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog.test") as c:
            c.app = app
            c.runtime = rt
            yield c
    finally:
        await rt.engine.dispose()


def token(client: httpx.AsyncClient, role: str, library: str | None, subject: str = "") -> str:
    return client.app.state.tokens.issue(subject or library or "operator", role, library)


def auth(client: httpx.AsyncClient, role: str, library: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, role, library)}"}


def assert_problem(res: httpx.Response, status: int, type_suffix: str | None = None) -> dict:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM_JSON), res.headers
    doc = res.json()
    assert doc["status"] == status and doc["title"]
    if type_suffix is not None:
        assert doc["type"].endswith("/" + type_suffix), doc
    return doc
