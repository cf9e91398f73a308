"""Named counters: the numbers that must never repeat within a library (renewal
transactions, HKPL-06; the order of ledger entries)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import upsert
from services.circulation.adapters.tables import counters


async def next_number(conn: AsyncConnection, name: str, count: int = 1) -> int:
    """The next number of a named sequence (the first of ``count`` drawn together), inside
    the caller's transaction. One upsert both creates the counter on first use and draws
    from it: two transactions using a new counter at once queue on its row instead of both
    inserting it (the loser would fail), and the row lock keeps them from drawing the same
    number."""
    stmt = (
        upsert(conn, counters)
        .values(name=name, value=count)
        .on_conflict_do_update(
            index_elements=[counters.c.name], set_={"value": counters.c.value + count}
        )
        .returning(counters.c.value)
    )
    last = (await conn.execute(stmt)).scalar_one()
    return last - count + 1
