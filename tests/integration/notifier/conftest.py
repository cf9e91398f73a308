"""Real databases (PostgreSQL and SQLite) and a real SMTP server on 127.0.0.1.

PostgreSQL comes from ILLFED_TEST_PG_URL (default: the local server, user postgres). Each
test module gets a fresh database named illfed_notifier_test_*, dropped afterwards; tests
of the whole service get a fresh migrated one each. When PostgreSQL is unreachable its
tests fail.

The TLS mail server uses a throw-away self-signed certificate made with the openssl tool.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.common.clock import ManualClock
from libs.common.db import sqlite_url
from libs.common.migrate import upgrade
from services.notifier.adapters.delivery import DeliveryWorker
from services.notifier.adapters.mailbox import Mailbox
from services.notifier.adapters.tables import metadata
from services.notifier.domain.retry import RetryPolicy

PG_URL = os.environ.get(
    "ILLFED_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def _asyncpg_dsn(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


async def _admin_async(statement: str) -> None:
    admin = make_url(PG_URL).database or "postgres"
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL, admin), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _admin(statement: str) -> None:
    # Its own thread and event loop: the fixture may be requested from inside a test's
    # running loop, where asyncio.run is not allowed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin_async(statement)).result()


@pytest.fixture(scope="module")
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test module."""
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rpartition(".")[2].lower())
    name = f"illfed_notifier_test_{module}_{uuid.uuid4().hex[:8]}"[:63]
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        # A missing server is a failure, never a skip: these tests exist to run on it.
        pytest.fail(f"PostgreSQL unreachable at {make_url(PG_URL).host}: {error}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create_pg_database(prefix: str) -> str:
    name = f"illfed_notifier_test_{prefix}_{uuid.uuid4().hex[:8]}"[:63]
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.fail(f"PostgreSQL unreachable at {make_url(PG_URL).host}: {error}")
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.pg),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh notifier database brought to the newest schema by its migrations."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "notifier.db")
    else:
        url = _create_pg_database("svc")
    await upgrade("notifier", url)
    try:
        yield url
    finally:
        if request.param != "sqlite":
            name = make_url(url).database
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, trusted by the tests that name it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl tool is needed to make the TLS mail server's certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert=cert, key=key)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.pg),
    ]
)
async def engine(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def mailbox(clock: ManualClock) -> AsyncIterator[Mailbox]:
    async with Mailbox("127.0.0.1", 0, clock=clock) as box:
        yield box


# Short, readable backoff for the tests: waits of 30 s, 60 s, then give up after 3 tries.
TEST_RETRY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))


@pytest.fixture
def worker(engine: AsyncEngine, mailbox: Mailbox, clock: ManualClock) -> DeliveryWorker:
    return DeliveryWorker(engine, mailbox.smtp_settings(), clock, retry=TEST_RETRY)
