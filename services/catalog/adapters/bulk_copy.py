"""Loading a big catalogue into an empty PostgreSQL database with COPY.

For the benchmark and first loads of millions of records: records are written as they come,
without looking for the same work already catalogued (each must carry its own identifiers, as
the synthetic ones do). Secondary indexes are dropped first and built once at the end, which
is several times faster than maintaining them row by row. Anything else loads through
``loading.load_records``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from itertools import islice

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.catalog.adapters.libraries import register_libraries
from services.catalog.adapters.rows import HOLDING_KEY, HOLDING_STATE, RECORD_FIELDS
from services.catalog.adapters.tables import (
    fulltext_ddl,
    holdings,
    libraries,
    record_keys,
    record_search,
    records,
)
from services.catalog.domain.indexing import build_document, stored_mask
from services.catalog.domain.matching import match_keys
from services.catalog.domain.model import BibRecord
from services.catalog.domain.views import LoadReport

_RECORD_COLUMNS = ["id", *RECORD_FIELDS]
_HOLDING_COLUMNS = [*HOLDING_KEY, *HOLDING_STATE]
_SEARCH_COLUMNS = ["record_id", "rank_key", "material_type", "language", "libs", "libs_more"]
_SEARCH_COLUMNS += ["tokens"]
_STAGE = "record_keys_stage"


async def cluster(conn: AsyncConnection) -> None:
    """Store the search rows in rank order (PostgreSQL), so that a search walking the rank
    index reads consecutive pages. Worth redoing after large loads; it locks the table while
    it runs."""
    await conn.execute(text("CLUSTER record_search USING ix_record_search_rank"))


class NotEmpty(RuntimeError):
    """COPY loading is for an empty catalogue."""


def _csv(rows: Iterable[Iterable]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


async def _copy(raw, table: str, columns: list[str], rows: list[tuple]) -> None:
    if rows:
        await raw.copy_to_table(table, source=io.BytesIO(_csv(rows)), columns=columns, format="csv")


def _secondary_indexes() -> list:
    return [ix for t in (holdings, record_keys, record_search) for ix in t.indexes]


async def copy_load(
    conn: AsyncConnection,
    stream: Iterable[BibRecord],
    members: Mapping[str, str | None],
    *,
    batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load ``stream`` into an empty catalogue on PostgreSQL, in the caller's transaction.
    ``progress`` is called with the number of records written after each batch."""
    if conn.dialect.name != "postgresql":
        raise ValueError("COPY loading needs PostgreSQL")
    if await conn.scalar(select(func.count()).select_from(records)):
        raise NotEmpty("the catalogue already has records: load through load_records")
    directory = await register_libraries(conn, members)
    await conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    await conn.execute(text("DROP INDEX IF EXISTS ix_record_search_tokens"))
    for ix in _secondary_indexes():
        await conn.execute(text(f"DROP INDEX IF EXISTS {ix.name}"))
    await conn.execute(
        text(f"CREATE TEMP TABLE {_STAGE} (key varchar(80), record_id bigint) ON COMMIT DROP")
    )
    raw = (await conn.get_raw_connection()).driver_connection

    report = LoadReport()
    next_id = 1
    source = iter(stream)
    while batch := list(islice(source, batch_size)):
        rec_rows, hold_rows, key_rows, search_rows = [], [], [], []
        for rec in batch:
            rid = next_id
            next_id += 1
            rec_rows.append(
                (
                    rid,
                    rec.title,
                    json.dumps(list(rec.authors), ensure_ascii=False),
                    json.dumps(list(rec.subjects), ensure_ascii=False),
                    json.dumps(list(rec.isbns)),
                    rec.issn,
                    rec.language,
                    rec.publisher,
                    rec.year,
                    rec.material_type,
                )
            )
            for h in rec.holdings:
                hold_rows.append(
                    (
                        h.library,
                        h.item_id,
                        rid,
                        h.status,
                        h.material_type or rec.material_type,
                        h.service_point,
                        h.call_number,
                        h.barcode,
                        h.version,
                    )
                )
            id_keys, work_key = match_keys(rec)
            key_rows.extend((k, rid) for k in (*id_keys, work_key) if k)
            doc = build_document(
                rid,
                title=rec.title,
                authors=rec.authors,
                subjects=rec.subjects,
                isbns=rec.isbns,
                issn=rec.issn,
                language=rec.language,
                material_type=rec.material_type,
                holdings=[(h.library, h.status) for h in rec.holdings],
                directory=directory,
            )
            libs, more = stored_mask(doc.libs)
            search_rows.append(
                (
                    rid,
                    doc.rank_key,
                    doc.material_type,
                    doc.language,
                    libs,
                    # bytea's hex text; None is an empty field, which COPY's CSV takes as NULL
                    None if more is None else "\\x" + more.hex(),
                    doc.as_tsvector(),
                )
            )
        await _copy(raw, "records", _RECORD_COLUMNS, rec_rows)
        await _copy(raw, "holdings", _HOLDING_COLUMNS, hold_rows)
        await _copy(raw, _STAGE, ["key", "record_id"], key_rows)
        await _copy(raw, "record_search", _SEARCH_COLUMNS, search_rows)
        report.created += len(rec_rows)
        report.holdings += len(hold_rows)
        if progress:
            progress(len(batch))

    # Two works may share a title/author/year key: the first one keeps it, as a merge would.
    await conn.execute(
        text(
            f"INSERT INTO record_keys (key, record_id) SELECT DISTINCT ON (key) key, record_id "
            f"FROM {_STAGE} ORDER BY key, record_id ON CONFLICT (key) DO NOTHING"
        )
    )
    await conn.execute(
        text("SELECT setval(pg_get_serial_sequence('records', 'id'), GREATEST(:n, 1))"),
        {"n": next_id - 1},
    )
    for ix in _secondary_indexes():
        await conn.run_sync(lambda sync_conn, ix=ix: ix.create(sync_conn))
    await cluster(conn)
    for sql in fulltext_ddl("postgresql"):
        await conn.execute(text(sql))
    for table in (libraries, records, record_keys, holdings, record_search):
        await conn.execute(text(f"ANALYZE {table.name}"))
    return report
