"""The requester's ILL transactions (``ill_borrowing``): reads, the new request, and each step
as a guarded update (``UPDATE … WHERE state IN the step's sources``), so two workers racing on
one transaction cannot both take a step."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.ill.sequence import numbering
from libs.common.state_updates import step_statement
from services.circulation.adapters.store import aware
from services.circulation.adapters.tables import ill_borrowing, ill_seq
from services.circulation.domain.ill_borrowing import OpenRequest
from services.circulation.domain.ill_requester import (
    FINISHED,
    HOLDS_QUOTA_WITHOUT_LOAN,
    REQUESTER,
    RequesterState,
)

t = ill_borrowing


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for k in ("created_at", "updated_at"):
        data[k] = aware(data[k])
    return data


async def add(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """The new request's row, as written (no second read of it)."""
    build = lambda _: insert(t).returning(*t.c)  # noqa: E731
    row = (await hot_sql.run(conn, "ill borrowing add", build, values)).one()
    return _row(row)


async def get(
    conn: AsyncConnection, transaction_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    # Every poll of a request and every message about it reads it.
    row = await hot_sql.row_by(conn, t, "transaction_id", transaction_id, for_update=for_update)
    return _row(row) if row else None


async def by_item(
    conn: AsyncConnection, item_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    # A return and a check-in of a borrowed item look its request up by it.
    row = await hot_sql.row_by(conn, t, "item_id", item_id, for_update=for_update)
    return _row(row) if row else None


async def for_patron(conn: AsyncConnection, patron_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(t)
            .where(t.c.patron_id == patron_id)
            .order_by(t.c.created_at.desc(), t.c.transaction_id)
        )
    ).all()
    return [_row(r) for r in rows]


async def listing(
    conn: AsyncConnection, *, state: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """A page in transaction id order, from the one after the cursor ``after``."""
    q = select(t).order_by(t.c.transaction_id).limit(limit + 1)
    if state is not None:
        q = q.where(t.c.state == state)
    if after is not None:
        q = q.where(t.c.transaction_id > after)
    return [_row(r) for r in (await conn.execute(q)).all()]


async def open_requests(conn: AsyncConnection, patron_id: str) -> list[OpenRequest]:
    """The patron's requests not yet finished, for the duplicate check and the quota: each
    holds quota unless its loan is out (then the loan counts, HKALL-09)."""
    rows = await hot_sql.run(
        conn,
        "open ill requests of patron",
        lambda _: select(t).where(
            t.c.patron_id == bindparam("b_patron"),
            *(t.c.state != s.value for s in FINISHED),  # not an IN list: built once
        ),
        {"b_patron": patron_id},
    )
    holding = {s.value for s in HOLDS_QUOTA_WITHOUT_LOAN}
    return [
        OpenRequest(
            transaction_id=r.transaction_id,
            record_id=r.record_id,
            lender=r.lender,
            candidates=tuple(r.candidates or ()),
            holds_quota=bool(r.quota_held) and r.state in holding,
        )
        for r in rows
    ]


async def requests_holding_quota(conn: AsyncConnection, patron_id: str) -> tuple[str, ...]:
    """The lender (or first candidate) of each request holding quota without a loan: what
    :class:`~libs.common.policy.AccountFacts` counts (HKALL-08, HKALL-09)."""
    return tuple(
        r.lender or (r.candidates[0] if r.candidates else "")
        for r in await open_requests(conn, patron_id)
        if r.holds_quota
    )


async def take_step(
    conn: AsyncConnection,
    transaction_id: str,
    step: str,
    at: datetime,
    *,
    numbers: Mapping[str, int] | None = None,
    **values: Any,
) -> dict[str, Any] | None:
    """Take ``step`` if the transaction is still in one of its sources: the row as the step
    left it (returned by the update itself); None otherwise. ``numbers``: the ``seq``
    numbers of the messages the step sends, taken by the same statement."""
    written = {"updated_at": at, **values}
    keyed = step_statement(conn, t.c.state, REQUESTER, step, t.c.transaction_id, written)
    params = {"b_key": transaction_id, **written}
    row = (await numbering(conn, ill_seq, transaction_id, numbers or {}, keyed, params)).first()
    return _row(row) if row else None


async def update_fields(
    conn: AsyncConnection, transaction_id: str, at: datetime, **values: Any
) -> dict[str, Any] | None:
    """Write ``values``: the row as it is after."""
    res = await hot_sql.run(
        conn,
        "ill borrowing update",
        lambda _: update(t).where(t.c.transaction_id == bindparam("b_txn")).returning(*t.c),
        {"b_txn": transaction_id, "updated_at": at, **values},
    )
    row = res.first()
    return _row(row) if row else None


async def awaiting_pickup_past(conn: AsyncConnection, today: date) -> list[dict[str, Any]]:
    """HKALL-06: items waiting for pickup whose last pickup day is before ``today``."""
    rows = (
        await conn.execute(
            select(t)
            .where(t.c.state == RequesterState.AWAITING_PICKUP.value, t.c.pickup_by < today)
            .order_by(t.c.pickup_by, t.c.transaction_id)
        )
    ).all()
    return [_row(r) for r in rows]
