"""The ILL transaction registry's queries: a transaction's row as the domain's view, saving a
decision as one guarded update, its history, and what routing, the jobs and the API read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import appends, hot_sql
from libs.common.changes import ill_transaction
from libs.common.contracts import IllRequest
from libs.common.db import changed, insert_new, one_of, statement
from libs.common.ill.sequence import numbering
from libs.common.pagination import Page, cut, keyset
from libs.common.state_updates import guarded_step
from services.requests.adapters.tables import ill_seq
from services.requests.adapters.tables import ill_transaction_history as history_t
from services.requests.adapters.tables import ill_transactions as t
from services.requests.domain.broker import (
    MACHINE,
    OPEN_LENDING,
    STUCK_AFTER,
    Attempt,
    BrokerState,
    TransactionView,
)


class LostRace(RuntimeError):
    """The row moved on between reading and writing it; the message is retried."""


def view_of(row: Mapping[str, Any]) -> TransactionView:
    return TransactionView(
        id=row["id"],
        requester=row["requester"],
        consortium=row["consortium"],
        state=BrokerState(row["state"]),
        lender=row["current_lender"],
        tried=tuple(Attempt.from_json(a) for a in row["lenders_tried"] or []),
        flags=frozenset(row["flags"] or []),
        asked_at=row["asked_at"],
    )


async def load(
    conn: AsyncConnection, transaction_id: str, *, lock: bool = True
) -> tuple[TransactionView, IllRequest] | None:
    """The transaction's view and its original request, locked for the caller's database
    transaction (messages from the requester and the lender may arrive side by side)."""
    # Every message about a transaction reads it.
    found = await hot_sql.row_by(conn, t, "id", transaction_id, for_update=lock)
    if found is None:
        return None
    row = found._mapping
    return view_of(row), IllRequest.model_validate(row["request"])


def _fields(view: TransactionView) -> dict[str, Any]:
    return {
        "state": view.state.value,
        "current_lender": view.lender,
        "lenders_tried": [a.as_json() for a in view.tried],
        "asked_at": view.asked_at,
        "flags": sorted(view.flags),
    }


async def create(
    conn: AsyncConnection, request: IllRequest, view: TransactionView, now: datetime
) -> bool:
    """Insert the transaction; False if it exists already (the request was made before)."""
    values = {
        "id": request.transaction_id,
        "requester": request.requester,
        "pickup_location": request.pickup_location,
        "patron_ref": request.patron.ref,
        "patron_category": request.patron.category,
        "consortium": view.consortium,
        "record_id": request.record.record_id,
        "record_title": request.record.title,
        "request": request.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
        **_fields(view),
    }
    # Built once: the columns are the values given.
    result = await hot_sql.run(
        conn, ("ill transaction create", t), lambda c: insert_new(c, t), values
    )
    return result.rowcount == 1


async def save(
    conn: AsyncConnection,
    before: TransactionView,
    after: TransactionView,
    step: str | None,
    now: datetime,
    *,
    numbers: Mapping[str, int] | None = None,
) -> None:
    """Write ``after``: a step as ``UPDATE … WHERE state IN (its sources)``, a change of flags
    or lender only where the state is still the one decided on. ``numbers``: how many
    ``seq`` numbers to take in the same statement for each library the step sends to
    (:func:`libs.common.ill.sequence.numbering`)."""
    params = {**_fields(after), "updated_at": now, "b_id": before.id}
    if step is None:
        params["b_state"] = before.state.value
    # Built once per step; the SET columns are the fields given (and the step's target).
    key = ("ill transaction save", step)
    result = await numbering(
        conn,
        ill_seq,
        before.id,
        numbers or {},
        (key, statement(conn, key, _save(step))),
        params,
    )
    if result.rowcount != 1:
        raise LostRace(f"transaction {before.id} is no longer {before.state}")


#: what a save writes (named in the statement, so that it can run inside another)
_SAVED = ("state", "current_lender", "lenders_tried", "asked_at", "flags", "updated_at")


def _save(step: str | None) -> Any:
    def build(_: AsyncConnection) -> Any:
        if step is None:
            stmt = update(t).where(t.c.id == bindparam("b_id"), t.c.state == bindparam("b_state"))
        else:
            stmt = guarded_step(t, t.c.state, MACHINE, step).where(t.c.id == bindparam("b_id"))
        values = {n: bindparam(n, type_=t.c[n].type) for n in _SAVED}
        return stmt.values(values).returning(t.c.id)  # a row when the step was taken

    return build


def history_row(
    *,
    transaction_id: str,
    at: datetime,
    side: str,
    actor: str,
    from_state: str | None = None,
    to_state: str | None = None,
    message_type: str | None = None,
    status: str | None = None,
    action: str | None = None,
    message_id: str | None = None,
    refused: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One line of a transaction's history, as :func:`record_all` writes it."""
    return {
        "transaction_id": transaction_id,
        "at": at,
        "side": side,
        "actor": actor,
        "from_state": from_state,
        "to_state": to_state,
        "message_type": message_type,
        "status": status,
        "action": action,
        "message_id": message_id,
        "refused": refused[:500] if refused else None,
        "detail": detail[:500] if detail else None,
    }


async def record_all(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Write history lines (a decision's own line and one per message it sent), in their
    order: with the statement that records the applied message's ``seq``, or together just
    before the unit of work commits (:mod:`libs.common.appends`)."""
    await appends.append_all(conn, history_t, rows)
    for row in rows:
        changed(conn, ill_transaction(row["transaction_id"]), row["to_state"])


async def record(conn: AsyncConnection, **fields: Any) -> None:
    await record_all(conn, [history_row(**fields)])


async def history(conn: AsyncConnection, transaction_id: str) -> list[dict]:
    await appends.flush(conn, history_t)  # this transaction's own lines, read with the others
    rows = await hot_sql.run(
        conn,
        ("ill transaction history", history_t),
        lambda _: (
            select(history_t)
            .where(history_t.c.transaction_id == bindparam("b_txn"))
            .order_by(history_t.c.id)
        ),
        {"b_txn": transaction_id},
    )
    return [dict(r._mapping) for r in rows]


async def open_lending_counts(conn: AsyncConnection) -> dict[str, int]:
    """Per lender, its lending transactions still open (asked, accepted or on loan)."""
    # Asked on every routing: built once.
    rows = await hot_sql.run(
        conn,
        ("open lending counts", t),
        lambda _: (
            select(t.c.current_lender, func.count())
            .where(
                one_of(t.c.state, (s.value for s in OPEN_LENDING)), t.c.current_lender.is_not(None)
            )
            .group_by(t.c.current_lender)
        ),
    )
    return {lender: n for lender, n in rows}


async def in_state(conn: AsyncConnection, state: BrokerState, limit: int = 500) -> list[str]:
    rows = await conn.execute(
        select(t.c.id).where(t.c.state == state.value).order_by(t.c.updated_at).limit(limit)
    )
    return [r for (r,) in rows.all()]


async def lenders_overdue(
    conn: AsyncConnection, now: datetime, hours_by_consortium: Mapping[str, int], limit: int = 500
) -> list[str]:
    """Transactions whose asked lender's time to answer has run out."""
    late = [
        and_(t.c.consortium == consortium, t.c.asked_at <= now - timedelta(hours=hours))
        for consortium, hours in hours_by_consortium.items()
    ]
    if not late:
        return []
    rows = await conn.execute(
        select(t.c.id)
        .where(t.c.state == BrokerState.ExpectToSupply.value, or_(*late))
        .order_by(t.c.asked_at)
        .limit(limit)
    )
    return [r for (r,) in rows.all()]


def _stuck_condition(now: datetime):
    return or_(
        *(
            and_(t.c.state == state.value, t.c.updated_at < now - timedelta(hours=w.hours))
            for state, w in STUCK_AFTER.items()
        )
    )


async def list_transactions(
    conn: AsyncConnection,
    *,
    party: str | None,
    states: Iterable[str] | None,
    stuck_at: datetime | None,
    after: str | None,
    limit: int,
) -> Page[dict]:
    """A page of transactions, by id: those ``party`` is requester or current lender of, in
    one of ``states``, stuck at ``stuck_at``."""
    query = keyset(select(t), t.c.id, after, limit)
    if party is not None:
        query = query.where(or_(t.c.requester == party, t.c.current_lender == party))
    if states:
        query = query.where(t.c.state.in_(list(states)))
    if stuck_at is not None:
        query = query.where(_stuck_condition(stuck_at))
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return cut(rows, limit, lambda r: r["id"])


async def get(conn: AsyncConnection, transaction_id: str) -> dict | None:
    row = await hot_sql.row_by(conn, t, "id", transaction_id)
    return dict(row._mapping) if row else None
