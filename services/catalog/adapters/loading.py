"""Bulk loading of records with their holdings, merging each work into one record.

A record is merged into an existing one when any of its ISBNs or its ISSN is already
catalogued, else when its title + first author + year key is (see ``domain.matching``); the
same within one load. A merge adds the newcomer's ISBNs, subjects and missing details to the
record and never changes its title. Holdings are upserted by (library, item_id); a holding
already updated by a newer circulation event (higher version) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import upsert
from services.catalog.adapters.indexer import reindex
from services.catalog.adapters.libraries import ensure_libraries
from services.catalog.adapters.matching_lock import lock_record_matching
from services.catalog.adapters.rows import HOLDING_STATE, record_row
from services.catalog.adapters.sql import chunks
from services.catalog.adapters.tables import holdings, record_keys, records
from services.catalog.domain.matching import match_keys
from services.catalog.domain.model import BibRecord, Holding, Rejection
from services.catalog.domain.views import LoadReport

_MERGED_FIELDS = ("authors", "subjects", "isbns", "issn", "language", "publisher", "year")


@dataclass
class _Work:
    """One work of this load: a new record, or changes to an existing one."""

    fields: dict[str, Any]
    record_id: int | None = None
    changed: bool = False
    keys: set[str] = field(default_factory=set)
    holdings: list[Holding] = field(default_factory=list)


def _merge(into: dict[str, Any], rec: BibRecord) -> bool:
    """Add what ``rec`` knows and ``into`` does not; True if anything was added."""
    changed = False
    for name in ("subjects", "isbns"):
        have = into[name]
        extra = [v for v in getattr(rec, name) if v not in have]
        if extra:
            into[name] = [*have, *extra]
            changed = True
    if not into["authors"] and rec.authors:
        into["authors"] = list(rec.authors)
        changed = True
    for name in ("issn", "language", "publisher", "year"):
        if into[name] is None and getattr(rec, name) is not None:
            into[name] = getattr(rec, name)
            changed = True
    return changed


async def load_records(
    conn: AsyncConnection,
    batch: Iterable[BibRecord],
    *,
    members: Mapping[str, str | None],
    now: datetime | None = None,
) -> LoadReport:
    """Load records with their holdings; the caller owns the transaction (and commits per
    batch for big loads).

    ``members`` are the libraries that may hold items (code -> consortium: the federation's
    libraries): a record with a holding at any other library is rejected.
    """
    known = dict(members)
    report = LoadReport()
    accepted: list[BibRecord] = []
    for i, rec in enumerate(batch):
        unknown = sorted({h.library for h in rec.holdings} - known.keys())
        if unknown:
            report.rejected.append(
                Rejection(
                    index=rec.position if rec.position is not None else i,
                    reason=f"unknown library {', '.join(map(repr, unknown))}",
                    source_id=rec.source_id,
                )
            )
        else:
            accepted.append(rec)
    for part in chunks(accepted):
        await _load_chunk(conn, part, known, now, report)
    return report


async def load_results(
    conn: AsyncConnection,
    results: Iterable[BibRecord | Rejection],
    *,
    members: Mapping[str, str | None],
    now: datetime | None = None,
) -> LoadReport:
    """Load what a reader produced (``records_from_json``, ``read_marc``, ``read_marcxml``):
    the records are loaded, the rejections reported with them."""
    good, rejected = [], []
    for r in results:
        (good if isinstance(r, BibRecord) else rejected).append(r)
    report = await load_records(conn, good, members=members, now=now)
    report.rejected[:0] = rejected
    return report


async def _load_chunk(
    conn: AsyncConnection,
    batch: Sequence[BibRecord],
    known: Mapping[str, str | None],
    now: datetime | None,
    report: LoadReport,
) -> None:
    await lock_record_matching(conn)
    keyed = [(rec, *match_keys(rec)) for rec in batch]
    all_keys = {k for _, ids, work in keyed for k in (*ids, work) if k}
    owner: dict[str, _Work] = {}
    existing: dict[int, _Work] = {}
    for part in chunks(sorted(all_keys)):
        rows = await conn.execute(
            select(record_keys.c.key, record_keys.c.record_id).where(record_keys.c.key.in_(part))
        )
        for key, record_id in rows:
            work = existing.get(record_id)
            if work is None:
                work = existing[record_id] = _Work(fields={}, record_id=record_id)
            owner[key] = work

    works: list[_Work] = []
    pending_merges: list[tuple[_Work, BibRecord]] = []
    for rec, id_keys, work_key in keyed:
        target = next((owner[k] for k in id_keys if k in owner), None)
        if target is None and work_key is not None:
            target = owner.get(work_key)
        if target is None:
            target = _Work(fields=record_row(rec))
            works.append(target)
            report.created += 1
        else:
            pending_merges.append((target, rec))
            report.merged += 1
        for key in (*id_keys, work_key):
            if key and key not in owner:
                owner[key] = target
                target.keys.add(key)
        target.holdings.extend(rec.holdings)

    await _read_existing(conn, existing)
    for target, rec in pending_merges:
        target.changed |= _merge(target.fields, rec)

    if works:
        stamp = {} if now is None else {"created_at": now, "updated_at": now}
        result = await conn.execute(
            records.insert().returning(records.c.id, sort_by_parameter_order=True),
            [{**w.fields, **stamp} for w in works],
        )
        for work, (record_id,) in zip(works, result.all(), strict=True):
            work.record_id = record_id
    await _update_existing(conn, [w for w in existing.values() if w.changed], now)

    key_rows = [
        {"key": key, "record_id": w.record_id}
        for w in (*works, *existing.values())
        for key in sorted(w.keys)
    ]
    if key_rows:
        stmt = upsert(conn, record_keys).on_conflict_do_nothing(index_elements=["key"])
        for part in chunks(key_rows):
            await conn.execute(stmt, list(part))

    touched = {w.record_id for w in (*works, *existing.values()) if w.changed or w.holdings}
    touched |= {w.record_id for w in works}
    item_rows = _holding_rows(works, existing.values(), now)
    touched |= await _upsert_holdings(conn, item_rows)
    report.holdings += len(item_rows)
    directory = await ensure_libraries(conn, {r["library"] for r in item_rows}, known)
    await reindex(conn, {t for t in touched if t is not None}, directory)


async def _read_existing(conn: AsyncConnection, existing: dict[int, _Work]) -> None:
    for part in chunks(sorted(existing)):
        rows = await conn.execute(
            select(records.c.id, *(records.c[name] for name in _MERGED_FIELDS)).where(
                records.c.id.in_(part)
            )
        )
        for row in rows.mappings():
            existing[row["id"]].fields = {
                name: (list(row[name]) if name in ("authors", "subjects", "isbns") else row[name])
                for name in _MERGED_FIELDS
            }


async def _update_existing(
    conn: AsyncConnection, works: Sequence[_Work], now: datetime | None
) -> None:
    if not works:
        return
    stmt = (
        update(records)
        .where(records.c.id == bindparam("rid"))
        .values(
            {
                **{name: bindparam(f"v_{name}") for name in _MERGED_FIELDS},
                "updated_at": now if now is not None else func.now(),
            }
        )
    )
    params = [
        {"rid": w.record_id, **{f"v_{name}": w.fields[name] for name in _MERGED_FIELDS}}
        for w in works
    ]
    await conn.execute(stmt, params)


def _holding_rows(
    works: Iterable[_Work], existing: Iterable[_Work], now: datetime | None
) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for work in (*works, *existing):
        for h in work.holdings:
            row = {
                "library": h.library,
                "item_id": h.item_id,
                "record_id": work.record_id,
                "status": h.status,
                "material_type": h.material_type or work.fields.get("material_type") or "book",
                "service_point": h.service_point,
                "call_number": h.call_number,
                "barcode": h.barcode,
                "version": h.version,
            }
            if now is not None:
                row["updated_at"] = now
            # The same item twice in one load: the later mention wins.
            rows[(h.library, h.item_id)] = row
    return list(rows.values())


async def _upsert_holdings(conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[int]:
    """Write the holdings; returns the records that lost an item to another record."""
    if not rows:
        return set()
    moved_from: set[int] = set()
    wanted = {(r["library"], r["item_id"]): r["record_id"] for r in rows}
    for part in chunks(list(wanted)):
        found = await conn.execute(
            select(holdings.c.library, holdings.c.item_id, holdings.c.record_id).where(
                tuple_(holdings.c.library, holdings.c.item_id).in_(part)
            )
        )
        for library, item_id, record_id in found:
            if record_id is not None and record_id != wanted[(library, item_id)]:
                moved_from.add(record_id)
    stmt = upsert(conn, holdings)
    updated = {name: stmt.excluded[name] for name in HOLDING_STATE}
    updated["updated_at"] = stmt.excluded.updated_at if "updated_at" in rows[0] else func.now()
    stmt = stmt.on_conflict_do_update(
        index_elements=[holdings.c.library, holdings.c.item_id],
        set_=updated,
        where=stmt.excluded.version >= holdings.c.version,
    )
    for part in chunks(rows):
        await conn.execute(stmt, list(part))
    return moved_from
