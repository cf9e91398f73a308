"""One writer at a time decides which record a new work belongs to.

Matching reads ``record_keys`` and then inserts a record and its keys. Two transactions that
bring the same new work at once (two libraries loading the same ISBN, a bulk load beside an
item change) would both find no record and both create one; the key insert that loses
(``ON CONFLICT DO NOTHING``) would leave a duplicate record behind. On PostgreSQL a
transaction-scoped advisory lock makes the read-then-create step exclusive; SQLite allows a
single writer anyway.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Any fixed number: it names the lock "catalogue record matching" within this database.
_MATCHING_LOCK = 0x11F3D_CA7A


async def lock_record_matching(conn: AsyncConnection) -> None:
    """Hold the matching lock until the caller's transaction ends (re-entrant within it)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MATCHING_LOCK})
