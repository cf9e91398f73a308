"""Keeping ``record_search`` in step with records and holdings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import upsert
from services.catalog.adapters.sql import chunks
from services.catalog.adapters.tables import holdings, record_search, records
from services.catalog.domain.directory import Directory
from services.catalog.domain.indexing import SearchDocument, build_document


def search_row(doc: SearchDocument, dialect: str) -> dict:
    return {
        "record_id": doc.record_id,
        "rank_key": doc.rank_key,
        "material_type": doc.material_type,
        "language": doc.language,
        "libs": doc.libs,
        "tokens": doc.as_tsvector() if dialect == "postgresql" else doc.as_text(),
    }


async def write_documents(conn: AsyncConnection, docs: Iterable[SearchDocument]) -> None:
    rows = [search_row(d, conn.dialect.name) for d in docs]
    if not rows:
        return
    stmt = upsert(conn, record_search)
    stmt = stmt.on_conflict_do_update(
        index_elements=[record_search.c.record_id],
        set_={
            c: stmt.excluded[c] for c in ("rank_key", "material_type", "language", "libs", "tokens")
        },
    )
    for part in chunks(rows):
        await conn.execute(stmt, list(part))


async def reindex(conn: AsyncConnection, record_ids: Iterable[int], directory: Directory) -> int:
    """Rebuild the search rows of ``record_ids`` from their records and holdings."""
    ids = sorted(set(record_ids))
    written = 0
    for part in chunks(ids):
        held: dict[int, list[tuple[str, str]]] = defaultdict(list)
        rows = await conn.execute(
            select(holdings.c.record_id, holdings.c.library, holdings.c.status).where(
                holdings.c.record_id.in_(part)
            )
        )
        for record_id, library, status in rows:
            held[record_id].append((library, status))
        recs = await conn.execute(
            select(
                records.c.id,
                records.c.title,
                records.c.authors,
                records.c.subjects,
                records.c.isbns,
                records.c.issn,
                records.c.language,
                records.c.material_type,
            ).where(records.c.id.in_(part))
        )
        docs = [
            build_document(
                r.id,
                title=r.title,
                authors=r.authors,
                subjects=r.subjects,
                isbns=r.isbns,
                issn=r.issn,
                language=r.language,
                material_type=r.material_type,
                holdings=held.get(r.id, ()),
                directory=directory,
            )
            for r in recs
        ]
        await write_documents(conn, docs)
        written += len(docs)
    return written
