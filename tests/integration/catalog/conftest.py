"""Catalogue integration tests run on both databases: SQLite (a file) and the real PostgreSQL.

Each test module gets its own database (on PostgreSQL ``illfed_catalog_<random>``, dropped
afterwards) with the tables created by ``metadata.create_all``; each test runs in a
transaction that is rolled back, since the repository never commits. A test that needs
PostgreSQL fails when the server cannot be reached; it never skips.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from libs.common.db import drop_database, ensure_database, make_engine, pg_url, sqlite_url
from services.catalog.adapters.tables import metadata

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="pg", marks=pytest.mark.pg),
]


async def create_tables(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def new_database(kind: str, tmp_path_factory) -> str:
    if kind == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("catalog") / "x.db")
    else:
        url = pg_url(f"illfed_catalog_{uuid.uuid4().hex[:12]}")
        try:
            asyncio.run(ensure_database(url))
        except OSError as exc:
            pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    asyncio.run(create_tables(url))
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A fresh catalogue database for the module, on each backend."""
    url = new_database(request.param, tmp_path_factory)
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def conn(engine):
    """A connection in a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()
