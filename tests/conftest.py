"""Shared fixtures: real PostgreSQL databases and a RabbitMQ virtual host per test session.

A test that needs PostgreSQL or RabbitMQ fails when the server is missing; it never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid

import pytest

from libs.common.db import drop_database, ensure_database, pg_url
from libs.common.messaging import outbox

RABBIT_ADMIN = os.environ.get("ILLFED_TEST_RABBIT", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(autouse=True)
def _sent_marks_after_a_short_quiet(monkeypatch):
    """The relays a test runs in its own process write their sent marks once they have been
    quiet for 20 ms rather than the quarter second a busy service waits (``SETTLE_IDLE``):
    many tests wait until every message is marked sent, and would each wait that long. The
    marks are written the same way; only the wait is shorter."""
    monkeypatch.setattr(outbox, "SETTLE_IDLE", 0.02)


@pytest.fixture
async def pg_database():
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    url = pg_url(f"illfed_test_{uuid.uuid4().hex[:10]}")
    try:
        await ensure_database(url)
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    yield url
    await drop_database(url)


@contextlib.contextmanager
def federation_vhost(prefix: str):
    """A RabbitMQ virtual host of its own with the federation's users and topology; removed
    afterwards. Fails (never skips) when RabbitMQ cannot be reached or administered."""
    from deploy.queues import federation_queues
    from libs.common.federation import default_federation
    from libs.common.messaging import broker_password
    from libs.common.messaging.broker_admin import delete_vhost, setup_broker
    from libs.common.messaging.topology import principals
    from libs.common.settings import DEV_SECRET

    fed = default_federation()
    vhost = f"{prefix}-{uuid.uuid4().hex[:6]}"
    admin_url = RABBIT_ADMIN.rstrip("/") + "/" + vhost
    passwords = {p: broker_password(DEV_SECRET, p) for p in principals(fed)}
    try:
        asyncio.run(setup_broker(admin_url, passwords, federation_queues(fed), fed))
    except Exception as exc:
        pytest.fail(f"RabbitMQ is not reachable or not administrable: {exc}")
    try:
        yield admin_url
    finally:
        asyncio.run(delete_vhost(vhost))


@pytest.fixture(scope="session")
def rabbit_vhost():
    """A RabbitMQ virtual host with the federation's users and topology, for this session."""
    with federation_vhost(f"illfed-test-{os.getpid()}") as admin_url:
        yield admin_url
