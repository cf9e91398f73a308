"""Whatever order the broker's messages of one transaction arrive in, and however often, the
lender ends where the ordered sequence leads (ILL.md: applied in ``seq`` order, an early one
parked, a repeated one ignored): the same state, the same copy status, the same history and
the same answers to the broker."""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.clock import ManualClock
from libs.common.contracts import IllRequest, IllRequesterMessage
from libs.common.contracts.ill import IllPatron, IllRecord
from libs.common.federation import default_federation
from libs.common.messaging.outbox import make_envelope
from services.circulation.adapters import items_repo
from services.circulation.adapters.tables import ill_history, ill_lending, metadata, outbox
from services.circulation.handlers import ill_lending as handlers
from services.circulation.runtime import library_context

TXN = "7c1b5e0a-0d8e-4b9e-9a1f-4a2f6f0f1c01"
ITEM = "hku-ill-1"

# (phase's broker messages by seq, staff action after the phase). Each scenario's phases
# follow one another; inside a phase the messages may come in any order, with repeats.
SCENARIOS = [
    [([1, 2], None)],  # Request, Cancel: cancelled before shipping
    [([1, 2, 3], None)],  # Request, ShippedReturn (refused: not shipped), Cancel
    [([1], "ship"), ([2, 3, 4, 5], "check_in")],  # shipped, then the requester's messages
    [([1], "ship"), ([2, 3, 4], None)],  # Received, Cancel (answered no), ShippedReturn
]
ACTIONS = {
    0: {2: "Cancel"},
    1: {2: "ShippedReturn", 3: "Cancel"},
    2: {2: "Received", 3: "CheckedOut", 4: "Notification", 5: "ShippedReturn"},
    3: {2: "Received", 3: "Cancel", 4: "ShippedReturn"},
}


def _envelope(scenario: int, seq: int, clock: ManualClock):
    if seq == 1:
        payload: IllRequest | IllRequesterMessage = IllRequest(
            transaction_id=TXN,
            seq=1,
            requester="eduhk",
            pickup_location="tko",
            patron=IllPatron(ref="p-4be1c07f3a2d9e58", category="student", consortium="HKALL"),
            record=IllRecord(record_id=42, title="香港歷史", isbn="9789620000001"),
            supplier="hku",
            lender_items=[ITEM],
            requested_at=clock.now(),
        )
    else:
        payload = IllRequesterMessage(
            transaction_id=TXN,
            seq=seq,
            requester="eduhk",
            action=ACTIONS[scenario][seq],  # type: ignore[arg-type]
            occurred_at=clock.now(),
        )
    # A fresh message id every time: a repeat resent under a new id is caught by its seq.
    env = make_envelope(
        payload, sender="requests", correlation_id=TXN, clock=clock, recipient="circulation.hku"
    )
    return env, payload


async def _run(scenario: int, deliveries: list[list[int]]) -> tuple:
    clock = ManualClock(datetime(2026, 12, 1, 2, tzinfo=UTC))
    lib = library_context("hku", default_federation(), clock)
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await items_repo.add_item(
            conn,
            "hku",
            {
                "id": ITEM,
                "barcode": "HKU-ILL-1",
                "title": "香港歷史",
                "isbn": "9789620000001",
                "material_type": "book",
                "service_point": "main",
            },
            clock,
        )
        for (_, staff), order in zip(SCENARIOS[scenario], deliveries, strict=True):
            for seq in order:
                env, payload = _envelope(scenario, seq, clock)
                handler = handlers.on_request if seq == 1 else handlers.on_requester_message
                await handler(conn, lib, env, payload)
            if staff == "ship":
                await handlers.ship(conn, lib, TXN, barcode="HKU-ILL-1", actor="staff:hku")
            elif staff == "check_in":
                await handlers.check_in(conn, lib, TXN, actor="staff:hku")
        state = await conn.scalar(select(ill_lending.c.state))
        item = await items_repo.get_item(conn, ITEM)
        steps = [
            (r.from_state, r.to_state, r.event, r.refused is not None)
            for r in (await conn.execute(select(ill_history).order_by(ill_history.c.id))).all()
        ]
        sent = []
        for r in (await conn.execute(select(outbox.c.body).order_by(outbox.c.id))).all():
            env = json.loads(r.body)
            if env["type"] in ("ill.supplier_message", "ill.error"):
                p = env["payload"]
                sent.append((env["type"], p.get("seq"), p.get("status"), p.get("answer")))
    await engine.dispose()
    assert item is not None
    return state, item["status"], steps, sent


def _phases(scenario: int):
    """Each phase: its messages in any order, plus repeats of any message sent so far."""
    phases = SCENARIOS[scenario]

    def build(draws):
        seen: list[int] = []
        out = []
        for (seqs, _), (perm, repeats) in zip(phases, draws, strict=True):
            seen += seqs
            out.append(list(perm) + [seen[i % len(seen)] for i in repeats])
        return out

    return st.tuples(
        *[
            st.tuples(st.permutations(seqs), st.lists(st.integers(0, 20), max_size=3))
            for seqs, _ in phases
        ]
    ).map(build)


@st.composite
def _cases(draw):
    scenario = draw(st.integers(0, len(SCENARIOS) - 1))
    return scenario, draw(_phases(scenario))


@functools.cache
def ordered(scenario: int) -> tuple:
    """Where the messages delivered in ``seq`` order, each once, lead."""
    return asyncio.run(_run(scenario, [seqs for seqs, _ in SCENARIOS[scenario]]))


def test_the_ordered_sequences_end_where_the_protocol_says():
    assert ordered(0)[:2] == ("Cancelled", "AVAILABLE")
    assert ordered(1)[:2] == ("Cancelled", "AVAILABLE")
    assert any(refused for *_, refused in ordered(1)[2])  # ShippedReturn before shipping
    assert ordered(2)[:2] == ("LoanCompleted", "AVAILABLE")
    assert [event for _, _, event, _ in ordered(2)[2]] == [
        "Request",
        "will_supply",
        "ship",
        "Received",
        "CheckedOut",
        "Notification",
        "ShippedReturn",
        "check_in",
    ]
    assert ordered(3)[:2] == ("ReturnShipped", "ON_ILL_LOAN")
    assert ("ill.supplier_message", 3, "Loaned", "no") in ordered(3)[3]  # Cancel after shipping


@settings(max_examples=40, deadline=None)
@given(_cases())
def test_any_order_with_repeats_ends_where_the_ordered_sequence_does(case):
    scenario, deliveries = case
    assert asyncio.run(_run(scenario, deliveries)) == ordered(scenario)
