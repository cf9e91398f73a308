"""Items of one library: reads and writes, each status change announced through the outbox
in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.clock import Clock
from libs.common.contracts import ItemChanged
from libs.common.db import any_of
from libs.common.messaging.outbox import send
from libs.common.money import Money
from libs.common.pagination import Page, cut, keyset
from services.circulation.adapters.tables import items, outbox
from services.circulation.domain.ill_borrowing import VISITING_PREFIX, is_visiting
from services.circulation.domain.items import Item

_BIB = ("title", "authors", "isbn", "language", "publisher", "year")


def _event(library: str, row: Any, change: str) -> ItemChanged:
    return ItemChanged(
        library=library,
        item_id=row.id,
        version=row.version,
        change=change,
        status=row.status,
        material_type=row.material_type,
        service_point=row.service_point,
        call_number=row.call_number,
        barcode=row.barcode,
        **{k: getattr(row, k) for k in _BIB},
    )


async def _announce(
    conn: AsyncConnection, library: str, row: Any, change: str, clock: Clock
) -> None:
    """Write ``item.changed`` for ``row``, the item as the change left it (the row the
    change's own statement returned: no second read of the item)."""
    event = _event(library, row, change)
    # The item is the correlation of its own changes: consumers order by its version.
    await send(
        conn,
        outbox,
        event,
        sender=library,
        correlation_id=f"item:{library}:{row.id}",
        clock=clock,
        causation_id=None,
    )


async def add_item(
    conn: AsyncConnection, library: str, data: dict[str, Any], clock: Clock
) -> dict[str, Any]:
    now = clock.now()
    item_id = data.get("id") or str(uuid.uuid4())
    values = {**data, "id": item_id, "version": 1, "created_at": now, "updated_at": now}
    values.setdefault("status", "AVAILABLE")
    # Copies of one work share a reservation queue; without a title id the ISBN names the work.
    if not values.get("title_id"):
        values["title_id"] = values.get("isbn") or item_id
    row = (await hot_sql.run(conn, "item add", _item_insert, values)).one()
    await _announce(conn, library, row, "added", clock)
    return dict(row._mapping)


def _item_insert(_: AsyncConnection) -> Any:
    return insert(items).returning(*items.c)


# Built once: a status change runs these on every call.
_BY_ID = select(items).where(items.c.id == bindparam("item_id"))


def _status_update(conn: AsyncConnection, expected: bool) -> Any:
    where = [items.c.id == bindparam("item_id")]
    if expected:
        # PostgreSQL takes the statuses as one array parameter: an IN list would be
        # rendered again, a cast per status, on every execution.
        where.append(any_of(conn, items.c.status, "expected", String))
    return (
        update(items)
        .where(*where)
        .values(
            status=bindparam("new_status"),
            version=items.c.version + 1,
            updated_at=bindparam("now"),
        )
        .returning(*items.c)
    )


async def get_item(conn: AsyncConnection, item_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(_BY_ID, {"item_id": item_id})).mappings().first()
    return dict(row) if row else None


async def find_by_barcode(conn: AsyncConnection, barcode: str) -> dict[str, Any] | None:
    row = await hot_sql.row_by(conn, items, "barcode", barcode)
    return dict(row._mapping) if row else None


async def list_items(conn: AsyncConnection, *, after: str | None, limit: int) -> Page[dict]:
    """A page of the library's items in id order, from the one after the cursor ``after``.
    Items other libraries lent this one (visiting ids) are not among its own."""
    q = keyset(select(items), items.c.id, after, limit).where(
        items.c.id.not_like(f"{VISITING_PREFIX}%")
    )
    return cut([dict(r) for r in (await conn.execute(q)).mappings()], limit, lambda r: r["id"])


async def count_items(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(items))).scalar_one()


async def set_status(
    conn: AsyncConnection,
    library: str,
    item_id: str,
    status: str,
    clock: Clock,
    *,
    expected: tuple[str, ...] | None = None,
) -> dict[str, Any] | None:
    """Change an item's status; the owner is the only place this happens (authority).

    With ``expected``, the change happens only from one of those statuses (``None`` is
    returned otherwise), so two counters lending the same copy at once cannot both succeed.
    """
    guarded = expected is not None
    params: dict[str, Any] = {"item_id": item_id, "new_status": status, "now": clock.now()}
    if guarded:
        params["expected"] = list(expected or ())
    # One statement changes the item and returns it as changed: the announcement and the
    # answer are built from that row, not from two more reads of it.
    row = (
        await hot_sql.run(
            conn, ("item status update", guarded), lambda c: _status_update(c, guarded), params
        )
    ).first()
    if row is None:
        return None
    if not is_visiting(item_id):  # another library's item: not ours to announce
        change = "withdrawn" if status == "WITHDRAWN" else "status_changed"
        await _announce(conn, library, row, change, clock)
    return dict(row._mapping)


async def add_visiting_item(
    conn: AsyncConnection, data: dict[str, Any], clock: Clock
) -> dict[str, Any]:
    """Record an item another library lent this one through the consortium, so that the
    patron's loan can reference it. It is NOT announced (no ``item.changed``): it is not one
    of this library's holdings, and the catalogue would list it as one. Its id is a visiting
    id (:func:`~services.circulation.domain.ill_borrowing.visiting_item_id`), which keeps
    every later status change of it unannounced too."""
    if not is_visiting(data["id"]):
        raise ValueError(f"{data['id']!r} is not a visiting item id")
    now = clock.now()
    values = {**data, "version": 1, "created_at": now, "updated_at": now}
    row = (await hot_sql.run(conn, "item add", _item_insert, values)).one()
    return dict(row._mapping)


# Domain reads ----------------------------------------------------------------------------


def item_of(row: Any, library: str, currency: str) -> Item:
    """The domain item of an ``items`` row."""
    return Item(
        item_id=row.id,
        library=library,
        barcode=row.barcode,
        title_id=row.title_id or row.isbn or row.id,
        title=row.title,
        material_type=row.material_type,
        section=row.section,
        branch=row.service_point,
        call_number=row.call_number,
        price=Money(amount_minor=row.price_minor, currency=currency)
        if row.price_minor is not None
        else None,
        pages=row.pages,
        set_id=row.set_id,
        main_item_id=row.main_item_id if row.set_id else None,
        status=row.status,
    )


async def item_rows(conn: AsyncConnection, item_ids: list[str]) -> dict[str, Any]:
    if not item_ids:
        return {}
    rows = (await conn.execute(select(items).where(items.c.id.in_(item_ids)))).all()
    return {r.id: r for r in rows}


async def find_item_row(
    conn: AsyncConnection, *, item_id: str | None = None, barcode: str | None = None
) -> Any | None:
    if item_id:
        return await hot_sql.row_by(conn, items, "id", item_id)
    return await hot_sql.row_by(conn, items, "barcode", barcode)


async def set_rows(conn: AsyncConnection, set_id: str) -> list[Any]:
    return list((await conn.execute(select(items).where(items.c.set_id == set_id))).all())


async def title_rows(conn: AsyncConnection, title_id: str) -> list[Any]:
    return list((await conn.execute(select(items).where(items.c.title_id == title_id))).all())
