"""A replica waits for its unit's migration job: `migrate --check` tells whether the database
has the newest schema, without changing it."""

from __future__ import annotations

from libs.common.db import sqlite_url
from libs.common.migrate import is_current, upgrade


async def test_a_database_is_current_only_once_migrated(tmp_path):
    url = sqlite_url(tmp_path / "catalog.db")
    assert not await is_current("catalog", url)
    assert not await is_current("catalog", url)  # asking did not migrate it
    await upgrade("catalog", url)
    assert await is_current("catalog", url)
