"""Writing a changed domain object back: update its row, or insert it when it is new.

Domain operations return whole new objects, so the adapters write them whole; the route's
unit of work makes the write atomic. Nothing here commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def save(conn: AsyncConnection, table: Table, key: dict[str, Any], values: dict) -> None:
    res = await conn.execute(
        update(table).where(*(table.c[k] == v for k, v in key.items())).values(**values)
    )
    if res.rowcount == 0:
        await conn.execute(insert(table).values(**key, **values))


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every instant stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
