"""Writing a changed domain object back: update its row, or insert it when it is new.

Domain operations return whole new objects, so the adapters write them whole; the route's
unit of work makes the write atomic. Nothing here commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql


async def save(conn: AsyncConnection, table: Table, key: dict[str, Any], values: dict) -> None:
    names = tuple(key)

    def changed(_: AsyncConnection) -> Any:  # the SET columns: the values given
        return update(table).where(*(table.c[k] == bindparam(f"key_{k}") for k in names))

    params = {**values, **{f"key_{k}": v for k, v in key.items()}}
    res = await hot_sql.run(conn, ("store save", table, names), changed, params)
    if res.rowcount == 0:
        await hot_sql.run(conn, ("store add", table), lambda _: insert(table), {**key, **values})


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every instant stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
