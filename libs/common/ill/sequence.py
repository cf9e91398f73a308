"""Numbering what a party sends and applying what it receives in order, in its own database.

:func:`next_seq` gives the ``seq`` of the next message to a counterpart about a transaction
(inside the transaction that writes the message to the outbox, so a rolled-back send does not
use a number up). :func:`receive` applies an incoming message if it is next, parks it if it
came early, and ignores it if its ``seq`` was applied already; after applying, it applies any
parked successors too. The sequence row is locked (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer) so two replicas never apply two messages of one transaction side by side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from sqlalchemy import Integer, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import appends, hot_sql
from libs.common.clock import Clock
from libs.common.contracts import Envelope
from libs.common.contracts.registry import parse_payload
from libs.common.db import before_commit, insert_new, statement, unit_state, upsert
from libs.common.ill.ordering import Verdict, verdict
from libs.common.ill.sequence_tables import SequenceTables
from libs.common.messaging import inbox

log = structlog.get_logger("illfed.ill.sequence")
Apply = Callable[[Envelope, Any], Awaitable[None]]


def _bump(conn: AsyncConnection, t: SequenceTables, step: int) -> tuple[object, Any]:
    """``INSERT … ON CONFLICT DO UPDATE SET last_seq = last_seq + step RETURNING last_seq``:
    one round trip that makes the row if it is new, locks it for the caller's transaction (a
    second writer of the same row waits for the first to commit, as ``FOR UPDATE`` would) and
    answers its value. Built once per database dialect, the values bound at execution."""

    def build(c: AsyncConnection) -> Any:
        s = t.sequences
        ins = upsert(c, s).values(
            transaction_id=bindparam("b_txn"),
            counterpart=bindparam("b_who"),
            direction=bindparam("b_dir"),
            last_seq=step,
        )
        return ins.on_conflict_do_update(
            index_elements=[s.c.transaction_id, s.c.counterpart, s.c.direction],
            set_={"last_seq": s.c.last_seq + step},
        ).returning(s.c.last_seq)

    key = ("ill seq bump", t.sequences, step)
    return key, statement(conn, key, build)


#: in a unit of work's state: the numbers a step's statement took for messages it sends
_TAKEN = "ill seq taken"


async def next_seq(
    conn: AsyncConnection, t: SequenceTables, transaction_id: str, counterpart: str
) -> int:
    """The ``seq`` of the next message to ``counterpart`` about ``transaction_id``: one the
    step's own statement took already in this unit of work (:func:`numbering`), or the row
    counted up by one in a single statement (made at 1 if it is the first) that takes the
    rows waiting in the unit of work along (:mod:`libs.common.appends`: the step's history
    lines, the outbox rows so far)."""
    state = unit_state(conn)
    taken = state.get(_TAKEN, {}).get((t.sequences, transaction_id, counterpart)) if state else None
    if taken:
        return taken.pop(0)
    params = {"b_txn": transaction_id, "b_who": counterpart, "b_dir": "out"}
    keyed = _bump(conn, t, 1)
    return int((await appends.along(conn, keyed, params, appends.take_all(conn))).scalar_one())


async def numbering(
    conn: AsyncConnection,
    t: SequenceTables,
    transaction_id: str,
    counts: Mapping[str, int],
    keyed: tuple[object, Any],
    params: dict[str, Any],
) -> hot_sql.Rows:
    """Run the statement ``keyed`` (its key and itself: a step's guarded ``UPDATE …
    RETURNING``, a row when the step was taken) with ``params`` and, when it took the step,
    take the next ``counts[c]`` numbers of each counterpart ``c`` for ``transaction_id``: in
    the same statement on PostgreSQL (the step a CTE, and an upsert of each counterpart's
    row from it, as :func:`next_seq`'s; one round trip for the step and the numbers of the
    messages it sends), just after it elsewhere. A step not taken takes no number. The
    numbers are kept in the unit of work for :func:`next_seq` to give out, in order; the
    unit of work does not commit with one not given out (its receiver would wait for it
    for ever). Outside a unit of work nothing is taken, and :func:`next_seq` takes each.
    Returns the statement's own rows."""
    state = unit_state(conn)
    who = sorted(counts) if state is not None else []
    if not who:
        return await hot_sql.execute(conn, *keyed, params)
    if conn.dialect.name != "postgresql":
        found = await hot_sql.execute(conn, *keyed, params)
        if found.first() is None:
            return found
        lasts = []
        for c in who:
            bump = {"b_txn": transaction_id, "b_who": c, "b_dir": "out"}
            counted = await hot_sql.execute(conn, *_bump(conn, t, counts[c]), bump)
            lasts.append(counted.scalar_one())
    else:
        numbered = await hot_sql.execute(
            conn,
            *_numbered(conn, t, keyed, len(who)),
            {
                **params,
                "n_txn": transaction_id,
                "n_dir": "out",
                **{f"n{k}_who": c for k, c in enumerate(who)},
                **{f"n{k}_step": counts[c] for k, c in enumerate(who)},
            },
        )
        found = numbered.leading(-len(who))  # the step's own columns
        row = numbered.first()
        if row is None:
            return found  # the step was not taken: no number either
        lasts = list(row[-len(who) :])
    assert state is not None
    kept = state.setdefault(_TAKEN, {})
    for c, last in zip(who, lasts, strict=True):
        first = int(last) - counts[c] + 1
        kept.setdefault((t.sequences, transaction_id, c), []).extend(range(first, int(last) + 1))
    before_commit(conn, _TAKEN, _all_given_out)
    return found


def _numbered(
    conn: AsyncConnection, t: SequenceTables, keyed: tuple[object, Any], n: int
) -> tuple[object, Any]:
    """``WITH step AS (keyed's statement), numbered_k AS (INSERT … SELECT … FROM step ON
    CONFLICT … DO UPDATE SET last_seq = last_seq + n RETURNING last_seq) SELECT step.*,
    numbered_0 … FROM step``: each of ``n`` counterparts' ``out`` rows counted up only when
    the step returned its row; built once per statement and ``n``."""
    base_key, base = keyed

    def build(c: AsyncConnection) -> Any:
        s, numbers = t.sequences, []
        step = base.cte("step")
        stmt = select(step)
        for k in range(n):
            count = bindparam(f"n{k}_step", type_=Integer)
            taken = select(
                bindparam("n_txn", type_=s.c.transaction_id.type),
                bindparam(f"n{k}_who", type_=s.c.counterpart.type),
                bindparam("n_dir", type_=s.c.direction.type),
                count,
            ).select_from(step)
            bump = (
                upsert(c, s)
                .from_select(["transaction_id", "counterpart", "direction", "last_seq"], taken)
                .on_conflict_do_update(
                    index_elements=[s.c.transaction_id, s.c.counterpart, s.c.direction],
                    set_={"last_seq": s.c.last_seq + count},
                )
                .returning(s.c.last_seq)
                .cte(f"numbered_{k}")
            )
            stmt = stmt.add_cte(bump)
            numbers.append(select(bump.c.last_seq).scalar_subquery().label(f"numbered_{k}"))
        # After the step's own columns, which :meth:`hot_sql.Rows.leading` keeps.
        return stmt.add_columns(*numbers)

    key = ("numbering", t.sequences, base_key, n)
    return key, statement(conn, key, build)


async def _all_given_out(conn: AsyncConnection) -> None:
    state = unit_state(conn)
    left = {k: v for k, v in (state or {}).get(_TAKEN, {}).items() if v}
    if left:
        raise RuntimeError(f"seq numbers taken and never sent: {left}")


async def last_received(
    conn: AsyncConnection, t: SequenceTables, transaction_id: str, sender: str
) -> int:
    s = t.sequences
    value = await conn.scalar(
        select(s.c.last_seq).where(
            s.c.transaction_id == transaction_id, s.c.counterpart == sender, s.c.direction == "in"
        )
    )
    return int(value or 0)


async def receive(
    conn: AsyncConnection,
    t: SequenceTables,
    env: Envelope,
    seq: int,
    apply: Apply,
    clock: Clock,
    *,
    transaction_id: str | None = None,
    payload: Any = None,
) -> Verdict:
    """Apply ``env`` (whose payload has ``seq``) in its sender's order, inside the caller's
    transaction. Returns what was done with it: applied (with any parked successors),
    parked, or ignored as a duplicate. ``payload`` is the envelope's payload as the consumer
    validated it already (parsed from the envelope when not given). The rows waiting
    (:mod:`libs.common.appends`: the history lines and outbox rows of what was applied) are
    written with the statement that records the applied ``seq``."""
    txn = transaction_id or env.correlation_id
    params = {"b_txn": txn, "b_who": env.sender, "b_dir": "in"}
    keyed = _bump(conn, t, 0)
    pending = inbox.pending(conn)
    if pending is None:
        last = int((await hot_sql.execute(conn, *keyed, params)).scalar_one())
    else:
        # The consumer's inbox claim made by this same statement (one round trip less).
        key, stmt, claim_values = pending.along(conn, *keyed)
        row = (await hot_sql.execute(conn, key, stmt, params | claim_values)).one()
        if not pending.note(row.inbox_claimed):
            return "duplicate"  # processed before: the consumer ignores it
        last = int(row.last_seq)
    outcome = verdict(last, seq)
    if outcome == "duplicate":
        log.info("ill message already applied", seq=seq, last=last, message_id=env.message_id)
        return outcome
    if outcome == "park":
        await conn.execute(
            insert_new(conn, t.parked).values(
                transaction_id=txn,
                sender=env.sender,
                seq=seq,
                message_id=env.message_id,
                envelope=env.model_dump_json(),
                parked_at=clock.now(),
            )
        )
        log.info("ill message parked until its predecessor arrives", seq=seq, last=last)
        return outcome
    await apply(
        env, parse_payload(env.type, env.version, env.payload) if payload is None else payload
    )
    last = seq
    p = t.parked
    while True:
        # The applied seq written, and its parked successor (if one came early) read, in one
        # round trip: nearly always there is none, and that is the message's last statement.
        found = await appends.along(
            conn,
            _advance(conn, t),
            {"b_txn": txn, "b_who": env.sender, "b_value": last},
            appends.take_all(conn),
        )
        envelope = found.scalar()
        if envelope is None:
            break
        early = Envelope.model_validate_json(envelope)
        await apply(early, parse_payload(early.type, early.version, early.payload))
        await conn.execute(
            delete(p).where(
                p.c.transaction_id == txn, p.c.sender == env.sender, p.c.seq == last + 1
            )
        )
        last += 1
    return outcome


def _advance(conn: AsyncConnection, t: SequenceTables) -> tuple[object, Any]:
    """``UPDATE`` the last applied ``seq`` from a sender, ``RETURNING`` the envelope parked
    as its successor (NULL when none is), built once."""

    def build(c: AsyncConnection) -> Any:
        s, p = t.sequences, t.parked
        value = bindparam("b_value", type_=Integer)
        successor = (
            select(p.c.envelope)
            .where(
                p.c.transaction_id == bindparam("b_txn"),
                p.c.sender == bindparam("b_who"),
                p.c.seq == value + 1,
            )
            .scalar_subquery()
        )
        return (
            update(s)
            .where(
                s.c.transaction_id == bindparam("b_txn"),
                s.c.counterpart == bindparam("b_who"),
                s.c.direction == "in",
            )
            .values(last_seq=value)
            .returning(successor)
        )

    key = ("ill seq advance", t.sequences)
    return key, statement(conn, key, build)


async def parked_count(conn: AsyncConnection, t: SequenceTables, transaction_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.count())
            .select_from(t.parked)
            .where(t.parked.c.transaction_id == transaction_id)
        )
        or 0
    )
