"""Catalogue reads and writes (the caller owns the transaction)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import ItemChanged
from services.catalog.adapters.tables import holdings, records


def _match_key(e: ItemChanged) -> str:
    if e.isbn:
        return "isbn:" + e.isbn.replace("-", "").replace(" ", "")
    author = e.authors[0].casefold() if e.authors else ""
    return f"tay:{(e.title or '').casefold().strip()}|{author}|{e.year or ''}"[:300]


async def _record_for(conn: AsyncConnection, e: ItemChanged) -> int:
    key = _match_key(e)
    found = (await conn.execute(select(records.c.id).where(records.c.match_key == key))).scalar()
    if found is not None:
        return found
    res = await conn.execute(
        insert(records).values(
            match_key=key,
            title=e.title or "(untitled)",
            authors=e.authors,
            isbn=e.isbn,
            language=e.language,
            publisher=e.publisher,
            year=e.year,
            material_type=e.material_type,
        )
    )
    return res.inserted_primary_key[0]


async def apply_item_change(conn: AsyncConnection, e: ItemChanged) -> bool:
    """Mirror an owner's item change; True if applied, False if stale or repeated."""
    row = (
        await conn.execute(
            select(holdings.c.id, holdings.c.version).where(
                holdings.c.library == e.library, holdings.c.item_id == e.item_id
            )
        )
    ).first()
    values = {
        "status": e.status,
        "material_type": e.material_type,
        "service_point": e.service_point,
        "call_number": e.call_number,
        "barcode": e.barcode,
        "version": e.version,
    }
    if row is None:
        record_id = await _record_for(conn, e) if e.title else None
        await conn.execute(
            insert(holdings).values(
                library=e.library, item_id=e.item_id, record_id=record_id, **values
            )
        )
        return True
    if e.version <= row.version:
        return False
    await conn.execute(update(holdings).where(holdings.c.id == row.id).values(**values))
    return True
