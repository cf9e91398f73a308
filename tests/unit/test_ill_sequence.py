"""ILL.md's order rule: a transaction's messages from one sender are applied in ``seq`` order;
an early one is parked and applied when the gap closes; a repeated ``seq`` changes nothing."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.clock import ManualClock
from libs.common.contracts import IllRequesterMessage
from libs.common.ill.ordering import releasable, verdict
from libs.common.ill.sequence import next_seq, parked_count, receive
from libs.common.ill.sequence_tables import sequence_tables
from libs.common.messaging.outbox import make_envelope

TXN = "t-1"


def test_verdicts():
    assert verdict(0, 1) == "apply"
    assert verdict(3, 5) == "park"
    assert verdict(3, 3) == "duplicate"
    assert verdict(3, 1) == "duplicate"
    assert releasable(2, [5, 3, 4, 7]) == [3, 4, 5]


def _message(seq: int, clock: ManualClock):
    msg = IllRequesterMessage(
        transaction_id=TXN,
        seq=seq,
        requester="eduhk",
        action="Notification",
        occurred_at=clock.now(),
        note=f"n{seq}",
    )
    return make_envelope(msg, sender="eduhk", correlation_id=TXN, clock=clock, recipient="requests")


async def _deliver(order: list[int]) -> tuple[list[int], int]:
    engine = create_async_engine("sqlite+aiosqlite://")
    tables = sequence_tables(metadata := MetaData())
    clock = ManualClock()
    applied: list[int] = []

    async def apply(env, payload):
        applied.append(payload.seq)

    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for seq in order:
            await receive(conn, tables, _message(seq, clock), seq, apply, clock)
        left = await parked_count(conn, tables, TXN)
    await engine.dispose()
    return applied, left


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.permutations(list(range(1, n + 1))).flatmap(
            lambda perm: st.lists(st.sampled_from(perm), max_size=4).map(
                lambda dup: (len(perm), perm + dup)
            )
        )
    )
)
def test_any_order_with_repeats_applies_each_once_in_order(case):
    n, order = case
    applied, left = asyncio.run(_deliver(order))
    assert applied == list(range(1, n + 1))
    assert left == 0


async def test_a_gap_keeps_the_later_messages_parked_not_lost():
    applied, left = await _deliver([1, 3, 4])
    assert applied == [1] and left == 2


async def test_outgoing_numbers_count_per_counterpart():
    engine = create_async_engine("sqlite+aiosqlite://")
    tables = sequence_tables(metadata := MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        got = [await next_seq(conn, tables, TXN, who) for who in ("hku", "hku", "eduhk", "hku")]
    await engine.dispose()
    assert got == [1, 2, 1, 3]
