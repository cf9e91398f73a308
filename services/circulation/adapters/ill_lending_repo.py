"""The lender's side of ILL transactions: reads, the row a request creates, and each step as
a guarded update (it is taken only while the row is in a state the step may leave)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.contracts.ill import IllRequest
from libs.common.db import insert_new
from libs.common.ill.sequence import numbering
from libs.common.pagination import Page, cut, keyset
from libs.common.state_updates import step_statement
from services.circulation.adapters.tables import ill_lending, ill_seq, items
from services.circulation.domain.ill_supplier import LENDING, LendingState

t = ill_lending


async def create(conn: AsyncConnection, request: IllRequest, now: Any) -> dict[str, Any] | None:
    """The row of a request just received, or None when the transaction has one here
    already (nothing is written). Of the patron only the pseudonym, the category and the
    consortium are kept (privacy: nothing else is ever sent to a lender)."""
    found = await hot_sql.run(
        conn,
        "ill lending create",
        lambda c: insert_new(c, t, "transaction_id").returning(*t.c),
        {
            "transaction_id": request.transaction_id,
            "state": LendingState.REQUEST_RECEIVED.value,
            "requester": request.requester,
            "pickup_location": request.pickup_location,
            "patron_ref": request.patron.ref,
            "patron_category": request.patron.category,
            "patron_consortium": request.patron.consortium,
            "record_id": request.record.record_id,
            "title": request.record.title,
            "isbn": request.record.isbn,
            "needed_by": request.needed_by,
            "lender_items": list(request.lender_items),
            "requested_at": request.requested_at,
            "created_at": now,
            "updated_at": now,
        },
    )
    row = found.first()
    return dict(row._mapping) if row else None


async def get(
    conn: AsyncConnection, transaction_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    # Every poll of a lending and every message about it reads it.
    row = await hot_sql.row_by(conn, t, "transaction_id", transaction_id, for_update=for_update)
    return dict(row._mapping) if row else None


async def page(
    conn: AsyncConnection, *, state: str | None, after: int | None, limit: int
) -> Page[dict]:
    """Newest first, optionally only those in ``state``."""
    query = select(t)
    if state is not None:
        query = query.where(t.c.state == state)
    rows = (await conn.execute(keyset(query, t.c.id, after, limit, newest_first=True))).mappings()
    return cut([dict(r) for r in rows], limit, lambda r: r["id"])


async def step(
    conn: AsyncConnection,
    transaction_id: str,
    name: str,
    now: Any,
    *,
    numbers: Mapping[str, int] | None = None,
    **values: Any,
) -> dict[str, Any] | None:
    """Take the step ``name`` with ``values``: the row as the step left it (the update
    returns it); None if the row was no longer in one of the step's source states (someone
    else took a step first: nothing is written). ``numbers``: the ``seq`` numbers of the
    messages the step sends, taken by the same statement."""
    written = {"updated_at": now, **values}
    keyed = step_statement(conn, t.c.state, LENDING, name, t.c.transaction_id, written)
    params = {"b_key": transaction_id, **written}
    row = (await numbering(conn, ill_seq, transaction_id, numbers or {}, keyed, params)).first()
    return dict(row._mapping) if row else None


async def remember(conn: AsyncConnection, transaction_id: str, now: Any, **values: Any) -> None:
    """Keep facts that change no state (the day the requester received or lent the copy)."""
    await hot_sql.run(
        conn,
        "ill lending remember",
        lambda _: update(t).where(t.c.transaction_id == bindparam("b_txn")),
        {"b_txn": transaction_id, "updated_at": now, **values},
    )


async def candidate_rows(conn: AsyncConnection, item_ids: list[str], isbn: str | None) -> list[Any]:
    """This library's own copies of a record: the ones the catalogue named, then any other
    with the record's ISBN, read from this library's database (the authority on status)."""
    conditions = [items.c.id.in_(item_ids)] if item_ids else []
    if isbn:
        conditions.append(items.c.isbn == isbn)
    if not conditions:
        return []
    rows = list((await conn.execute(select(items).where(or_(*conditions)))).all())
    named = {item_id: n for n, item_id in enumerate(item_ids)}
    return sorted(rows, key=lambda r: (named.get(r.id, len(named)), r.id))


async def open_by_item(conn: AsyncConnection, item_id: str) -> dict[str, Any] | None:
    """The lending its copy ``item_id`` is out on (or was last lent on)."""
    row = (
        await conn.execute(select(t).where(t.c.item_id == item_id).order_by(t.c.id.desc()).limit(1))
    ).first()
    return dict(row._mapping) if row else None
