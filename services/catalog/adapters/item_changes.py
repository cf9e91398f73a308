"""Circulation events keep the holdings mirror current: ``item.changed`` from the owner.

Applied idempotently and in order per item: a change is applied only when its version is newer
than the holding's, so a redelivered or late (older) event changes nothing. A withdrawn item
keeps its row, marked WITHDRAWN, so that a late ``added`` cannot bring it back. An item its
owner now describes as another work (another ISBN, another title) moves to that work's record.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.contracts.events import ItemChanged
from libs.common.db import any_of, upsert
from services.catalog.adapters.indexer import reindex_for_change
from services.catalog.adapters.libraries import Members
from services.catalog.adapters.matching_lock import lock_record_matching
from services.catalog.adapters.rows import record_row
from services.catalog.adapters.tables import holdings, record_keys, records
from services.catalog.domain.identifiers import isbn13
from services.catalog.domain.intake import HOLDING_LIMITS, MAX_YEAR, MIN_YEAR
from services.catalog.domain.matching import match_keys, normalized_title
from services.catalog.domain.model import AVAILABLE, WITHDRAWN, BibRecord, normalize_language

# NUL and lone UTF-16 surrogates cannot be stored as text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def record_from_event(event: ItemChanged) -> BibRecord | None:
    """The work an event describes, or None when it says too little to catalogue it.

    Owners' data is taken as it comes: an ISBN that does not check out or an unknown language
    is left out rather than refusing the item's status.
    """
    isbn = isbn13(event.isbn) if event.isbn else None
    title = " ".join(_storable(event.title).split())
    if not title and isbn is None:
        return None
    try:
        language = normalize_language(_storable(event.language) or None)
    except ValueError:
        language = None
    authors = (" ".join(_storable(a).split()) for a in event.authors)
    year = event.year if event.year is not None and MIN_YEAR <= event.year <= MAX_YEAR else None
    return BibRecord(
        title=title or f"ISBN {isbn}",
        authors=tuple(a for a in authors if a),
        isbns=(isbn,) if isbn else (),
        language=language,
        publisher=_storable(event.publisher) or None,
        year=year,
        material_type=event.material_type,
    )


def _storable(text: str | None, limit: int | None = None) -> str:
    """``text`` without what a text column cannot hold (NUL, lone surrogates), cut to
    ``limit`` characters."""
    out = _UNSTORABLE.sub("", text or "")
    return out[:limit] if limit is not None else out


def _keys_select(conn: AsyncConnection):
    return select(record_keys.c.key, record_keys.c.record_id).where(
        any_of(conn, record_keys.c.key, "keys", String)
    )


def _holding_select(conn: AsyncConnection):
    """The item's holding, with its record's title and ISBNs and the records the event's
    match keys belong to (a row per key found), in one round trip: an unchanged description
    is then seen to still describe the holding's record without a second query. The holding
    is locked until the change commits: another consumer applying a change of the same item
    waits, so the holding read here is the one this change replaces."""
    return (
        select(
            holdings.c.record_id,
            holdings.c.version,
            holdings.c.status,
            records.c.title,
            records.c.isbns,
            record_keys.c.key,
            record_keys.c.record_id.label("key_record"),
        )
        .select_from(
            holdings.outerjoin(records, records.c.id == holdings.c.record_id).outerjoin(
                record_keys, any_of(conn, record_keys.c.key, "keys", String)
            )
        )
        .where(
            holdings.c.library == bindparam("library"),
            holdings.c.item_id == bindparam("item_id"),
        )
        .with_for_update(of=holdings)
    )


_HOLDING_VALUES = ("record_id", "status", "material_type", "service_point", "call_number")
_HOLDING_VALUES += ("barcode", "version", "updated_at")


def _holding_upsert(conn: AsyncConnection):
    stmt = upsert(conn, holdings)
    return stmt.on_conflict_do_update(
        index_elements=[holdings.c.library, holdings.c.item_id],
        set_={k: stmt.excluded[k] for k in _HOLDING_VALUES},
        # A concurrent consumer may have applied a newer change since the read above.
        where=holdings.c.version < stmt.excluded.version,
    ).returning(holdings.c.version)


def _presence(status: str) -> int:
    """What a holding's status tells the search document: withdrawn (no copy), available,
    or held but not available (see ``domain.indexing.build_document``)."""
    return 0 if status == WITHDRAWN else 2 if status == AVAILABLE else 1


async def _match(
    conn: AsyncConnection, id_keys, work_key: str | None, keys: list[str]
) -> tuple[dict[str, int], int | None]:
    found: dict[str, int] = {}
    if keys:
        rows = await hot_sql.run(conn, "record keys", _keys_select, {"keys": keys})
        found = {key: record_id for key, record_id in rows}
    record_id = next((found[k] for k in id_keys if k in found), None)
    if record_id is None and work_key:
        record_id = found.get(work_key)
    return found, record_id


async def find_or_create_record(conn: AsyncConnection, rec: BibRecord) -> int:
    """The id of the catalogued work ``rec`` is, creating the record when it is new."""
    id_keys, work_key = match_keys(rec)
    keys = _all_keys(rec)
    found, record_id = await _match(conn, id_keys, work_key, keys)
    if record_id is None:
        # Look again under the lock: another transaction may have just created the work.
        await lock_record_matching(conn)
        found, record_id = await _match(conn, id_keys, work_key, keys)
    if record_id is None:
        result = await conn.execute(records.insert().returning(records.c.id), record_row(rec))
        record_id = result.scalar_one()
    missing = [{"key": k, "record_id": record_id} for k in keys if k not in found]
    if missing:
        stmt = upsert(conn, record_keys).on_conflict_do_nothing(index_elements=["key"])
        await conn.execute(stmt, missing)
    return record_id


async def apply_item_change(
    conn: AsyncConnection, event: ItemChanged, *, members: Members, now: datetime | None = None
) -> bool:
    """Mirror an owner's item change. True if applied; False if it was already applied or an
    newer change of the item was (a repeated or out-of-order event). ``members`` are the
    federation's libraries (code -> consortium), for a library the catalogue meets for the
    first time. The caller owns the transaction."""
    described = record_from_event(event)
    keys = _all_keys(described) if described is not None else []
    rows = (
        await hot_sql.run(
            conn,
            "holding with keys",
            _holding_select,
            {"library": event.library, "item_id": event.item_id, "keys": keys},
        )
    ).all()
    row = rows[0] if rows else None
    if row is not None and row.version >= event.version:
        return False

    record_id = row.record_id if row is not None else None
    found = {r.key: r.key_record for r in rows if r.key is not None}
    if described is not None and (record_id is None or not _still_describes(row, described, found)):
        # A new item, or one the owner now catalogues as another work (a corrected ISBN or
        # title): it moves to that work's record.
        record_id = await find_or_create_record(conn, described)
    moved_from = row.record_id if row is not None and row.record_id != record_id else None

    status = WITHDRAWN if event.change == "withdrawn" else event.status
    values = {
        "library": event.library,
        "item_id": event.item_id,
        "record_id": record_id,
        "status": status,
        "material_type": event.material_type,
        # Cut to the columns (PostgreSQL refuses a longer value; the status must still apply).
        **{
            name: _storable(getattr(event, name), HOLDING_LIMITS[name]) or None
            for name in ("service_point", "call_number", "barcode")
        },
        "version": event.version,
    }
    if now is not None:
        values["updated_at"] = now  # else the column's default: the database's now()
    applied = (await hot_sql.run(conn, "holding upsert", _holding_upsert, values)).rowcount > 0
    touched = {r for r in (record_id, moved_from) if r is not None}
    if not applied or not touched:
        return applied
    if (
        row is not None
        and moved_from is None
        and row.record_id == record_id
        and _presence(row.status) == _presence(status)
    ):
        # Same record, and the status tells search what the old one did (lent → in transit,
        # missing → in processing): the record's search document is unchanged.
        return applied
    await reindex_for_change(conn, touched, event.library, members)
    return applied


def _all_keys(rec: BibRecord) -> list[str]:
    id_keys, work_key = match_keys(rec)
    return [k for k in (*id_keys, work_key) if k]


def _still_describes(holding, rec: BibRecord, found: dict[str, int]) -> bool:
    """Whether the work an event describes is still the item's record (``holding``: the
    holding with its record's title and ISBNs): one of its keys (an ISBN, the title + author
    + year; ``found`` maps those known to their records) belongs to that record, or, when
    none of them is known anywhere, it has the record's title (and no ISBN other than the
    record's ones)."""
    if holding.record_id in found.values():
        return True
    if found:
        return False  # its keys belong to another record
    if holding.title is None:
        return False  # (the record is gone)
    if rec.isbns and holding.isbns:
        return False  # an ISBN the catalogue has not seen, and the record has others
    return normalized_title(holding.title) == normalized_title(rec.title)
