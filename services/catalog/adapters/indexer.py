"""Keeping ``record_search`` in step with records and holdings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import BigInteger, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import any_of, statement, upsert
from services.catalog.adapters.libraries import Members, ensure_libraries
from services.catalog.adapters.sql import chunks
from services.catalog.adapters.tables import holdings, libraries, record_search, records
from services.catalog.domain.directory import Directory, Library
from services.catalog.domain.indexing import SearchDocument, build_document, stored_mask


def search_row(doc: SearchDocument, dialect: str) -> dict:
    libs, more = stored_mask(doc.libs)
    return {
        "record_id": doc.record_id,
        "rank_key": doc.rank_key,
        "material_type": doc.material_type,
        "language": doc.language,
        "libs": libs,
        "libs_more": more,
        "tokens": doc.as_tsvector() if dialect == "postgresql" else doc.as_text(),
    }


def _search_upsert(conn: AsyncConnection):
    stmt = upsert(conn, record_search)
    return stmt.on_conflict_do_update(
        index_elements=[record_search.c.record_id],
        set_={
            c: stmt.excluded[c]
            for c in ("rank_key", "material_type", "language", "libs", "libs_more", "tokens")
        },
    )


async def write_documents(conn: AsyncConnection, docs: Iterable[SearchDocument]) -> None:
    rows = [search_row(d, conn.dialect.name) for d in docs]
    if not rows:
        return
    if len(rows) == 1:  # an item change's one record: a plain execution
        await hot_sql.run(conn, "search upsert", _search_upsert, rows[0])
        return
    stmt = statement(conn, "search upsert", _search_upsert)
    for part in chunks(rows):
        await conn.execute(stmt, part[0] if len(part) == 1 else list(part))


_RECORD_COLUMNS = (
    records.c.id,
    records.c.title,
    records.c.authors,
    records.c.subjects,
    records.c.isbns,
    records.c.issn,
    records.c.language,
    records.c.material_type,
)


def _records_held(conn: AsyncConnection):
    """An item change's records with their holdings and the holders' directory entries, in
    one round trip: a changed item's record has a handful of holdings, not the whole
    directory. The ids are one array parameter on PostgreSQL."""
    return (
        select(
            *_RECORD_COLUMNS,
            holdings.c.library,
            holdings.c.status,
            libraries.c.bit,
            libraries.c.consortium,
        )
        .select_from(
            records.outerjoin(holdings, holdings.c.record_id == records.c.id).outerjoin(
                libraries, libraries.c.code == holdings.c.library
            )
        )
        .where(any_of(conn, records.c.id, "ids", BigInteger))
    )


async def reindex_for_change(
    conn: AsyncConnection, record_ids: Iterable[int], library: str, members: Members
) -> int:
    """:func:`reindex` for the records an item change of ``library`` touched, numbering the
    library first if the catalogue has not met it yet (as :func:`ensure_libraries`, with the
    federation's ``members``)."""
    ids = sorted(set(record_ids))
    rows = (await hot_sql.run(conn, "records held", _records_held, {"ids": ids})).all()
    if any(r.library is not None and r.bit is None for r in rows):
        return await reindex(conn, ids, await ensure_libraries(conn, [library], members))
    directory = Directory.of(
        {Library(r.library, r.bit, r.consortium) for r in rows if r.library is not None}
    )
    by_record: dict[int, tuple[object, list[tuple[str, str]]]] = {}
    for r in rows:
        _, held = by_record.setdefault(r.id, (r, []))
        if r.library is not None:
            held.append((r.library, r.status))
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
            holdings=held,
            directory=directory,
        )
        for r, held in by_record.values()
    ]
    await write_documents(conn, docs)
    return len(docs)


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
        recs = await conn.execute(select(*_RECORD_COLUMNS).where(records.c.id.in_(part)))
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
