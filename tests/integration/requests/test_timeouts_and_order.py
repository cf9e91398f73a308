"""A lender that does not answer within the consortium's configured hours is sent a Cancel and
skipped; its late WillSupply is answered with a Cancel. Messages are applied in each sender's
``seq`` order: a duplicate or two messages in reverse order end where the ordered run ends.
A message naming another party than its sender is dead-lettered; one illegal in the
transaction's state is refused with ``ill.error``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from libs.common.contracts import IllSupplierMessage
from libs.common.policy import load_policy
from services.requests.adapters.tables import dead_letters

pytestmark = pytest.mark.pg

ANSWER_HOURS = load_policy("hkall").ill.lender_answer_hours


async def requested(world, *holders: str, requester: str = "eduhk"):
    record = await world.catalogue_record(*holders)
    req = world.request(requester, record)
    await world.say(requester, req)
    return req.transaction_id, (await world.transaction(req.transaction_id))["current_lender"]


async def test_a_silent_lender_is_cancelled_and_skipped_after_the_configured_hours(world):
    txn, silent = await requested(world, "hku", "hkbu")
    world.clock.advance(hours=ANSWER_HOURS - 1)
    assert await world.run_job("ill-lender-timeouts") == 0
    assert (await world.transaction(txn))["current_lender"] == silent

    world.clock.advance(hours=1)
    assert await world.run_job("ill-lender-timeouts") == 1
    doc = await world.transaction(txn)
    nxt = doc["current_lender"]
    assert doc["state"] == "ExpectToSupply" and nxt not in (None, silent)
    assert [(t["lender"], t["outcome"]) for t in doc["lenders_tried"]] == [
        (silent, "no_answer"),
        (nxt, "asked"),
    ]
    [cancel] = world.received(silent, txn, "ill.requester_message")
    assert cancel.payload["action"] == "Cancel" and cancel.payload["requester"] == "eduhk"
    assert "no answer" in cancel.payload["note"]
    assert cancel.payload["seq"] == 2  # after the request it was sent
    routing = world.received("eduhk", txn, "ill.routing")[-1].payload
    assert routing["lender"] == nxt
    assert routing["previous"] == silent and routing["previous_outcome"] == "no_answer"

    # the skipped lender wakes up and says it will supply: it is told the request is cancelled
    await world.lender_says(silent, txn, "WillSupply")
    cancels = world.received(silent, txn, "ill.requester_message")
    assert [c.payload["action"] for c in cancels] == ["Cancel", "Cancel"]
    assert cancels[-1].payload["seq"] == 3
    doc = await world.transaction(txn)
    assert doc["state"] == "ExpectToSupply" and doc["current_lender"] == nxt
    assert not world.received("eduhk", txn, "ill.supplier_message")  # not passed on


async def test_the_last_silent_lender_ends_the_rota(world):
    txn, _ = await requested(world, "hku")
    world.clock.advance(hours=ANSWER_HOURS)
    await world.run_job("ill-lender-timeouts")
    doc = await world.transaction(txn)
    assert doc["state"] == "Unfilled"
    last = world.received("eduhk", txn, "ill.routing")[-1].payload
    assert last["end_of_rota"] and last["previous_outcome"] == "no_answer"


async def _run(world, order: list[int], *, duplicate: bool = False) -> dict:
    """The requester's request and three messages of the lender, sent in ``order``."""
    record = await world.catalogue_record("hku")
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    msgs = [
        IllSupplierMessage(
            transaction_id=txn,
            seq=seq,
            supplier="hku",
            status=status,
            reason="RequestResponse" if seq == 1 else "StatusChange",
            occurred_at=world.clock.now(),
        )
        for seq, status in ((1, "WillSupply"), (2, "Loaned"), (3, "Overdue"))
    ]
    envs = [world.envelope("hku", m, txn) for m in msgs]
    for i in order:
        await world.publish("hku", envs[i])
        await world.settle()
        if duplicate:
            # the same message again, and resent under a new message id
            await world.publish("hku", envs[i])
            await world.publish("hku", world.envelope("hku", msgs[i], txn))
            await world.settle()
    doc = await world.transaction(txn)
    forwarded = [
        (e.payload["status"], e.payload["seq"])
        for e in world.received("eduhk", txn, "ill.supplier_message")
    ]
    return {"state": doc["state"], "flags": doc["flags"], "forwarded": forwarded}


async def test_duplicates_and_reversed_messages_end_where_the_ordered_run_ends(world):
    ordered = await _run(world, [0, 1, 2])
    assert ordered == {
        "state": "Loaned",
        "flags": ["overdue"],
        "forwarded": [("WillSupply", 2), ("Loaned", 3), ("Overdue", 4)],
    }
    assert await _run(world, [2, 1, 0]) == ordered
    assert await _run(world, [1, 0, 2], duplicate=True) == ordered


async def test_a_message_naming_another_party_than_its_sender_is_dead_lettered(world):
    txn, lender = await requested(world, "hku")
    # cuhk claims to be hku, the lender asked
    forged = IllSupplierMessage(
        transaction_id=txn,
        seq=1,
        supplier=lender,
        status="WillSupply",
        reason="RequestResponse",
        occurred_at=world.clock.now(),
    )
    env = world.envelope("cuhk", forged, txn)
    await world.publish("cuhk", env)
    await world.settle()
    for _ in range(100):
        async with world.runtime.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(dead_letters).where(dead_letters.c.message_id == env.message_id)
                    )
                )
                .mappings()
                .first()
            )
        if row:
            break
        await asyncio.sleep(0.02)
    assert row is not None and "names supplier 'hku' but 'cuhk' sent it" in row["reason"]
    doc = await world.transaction(txn)
    assert doc["state"] == "ExpectToSupply"
    assert not world.received("eduhk", txn, "ill.supplier_message")


async def test_an_illegal_message_is_refused_with_an_error_and_not_applied(world):
    txn, lender = await requested(world, "hku")
    env = await world.requester_says("eduhk", txn, "ShippedReturn")
    [error] = world.received("eduhk", txn, "ill.error")
    assert error.payload["refused_message_id"] == env.message_id
    assert error.payload["state"] == "ExpectToSupply"
    doc = await world.transaction(txn)
    assert doc["state"] == "ExpectToSupply"
    refused = [h for h in doc["history"] if h["refused"]]
    assert refused and refused[0]["message_id"] == env.message_id
    assert refused[0]["side"] == "requester"
    assert not world.received(lender, txn, "ill.requester_message")

    # a library never asked cannot answer for the transaction
    await world.lender_says("cuhk", txn, "WillSupply")
    assert world.received("cuhk", txn, "ill.error")
    assert (await world.transaction(txn))["state"] == "ExpectToSupply"


async def test_a_cancel_while_no_lender_holds_the_request_is_answered_by_the_broker(world):
    record = await world.catalogue_record("hku")
    world.link.up = False
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    await world.requester_says("eduhk", txn, "Cancel")
    [answer] = world.received("eduhk", txn, "ill.supplier_message")
    assert answer.sender == "requests"
    assert answer.payload["supplier"] == "requests" and answer.payload["status"] == "Cancelled"
    assert answer.payload["reason"] == "CancelResponse" and answer.payload["answer"] == "yes"
    assert (await world.transaction(txn))["state"] == "Cancelled"
    world.link.up = True
    assert await world.run_job("ill-routing-retry") == 0
    assert not world.received("hku", txn)


async def test_a_cancel_while_a_lender_holds_it_goes_to_the_lender_and_its_answer_back(world):
    txn, lender = await requested(world, "hku")
    await world.requester_says("eduhk", txn, "Cancel")
    [cancel] = world.received(lender, txn, "ill.requester_message")
    assert cancel.payload["action"] == "Cancel"
    assert "cancel_pending" in (await world.transaction(txn))["flags"]
    await world.lender_says(lender, txn, "Cancelled", reason="CancelResponse", answer="yes")
    doc = await world.transaction(txn)
    assert doc["state"] == "Cancelled" and doc["flags"] == []
    [answer] = world.received("eduhk", txn, "ill.supplier_message")
    assert answer.payload["supplier"] == lender and answer.payload["answer"] == "yes"


async def test_the_whole_loan_travels_through_the_broker(world):
    txn, lender = await requested(world, "hku")
    await world.lender_says(lender, txn, "WillSupply")
    await world.lender_says(lender, txn, "Loaned", item_id="hku-1")
    for action in ("Received", "CheckedOut", "Renew"):
        await world.requester_says("eduhk", txn, action)
    assert "renewal_pending" in (await world.transaction(txn))["flags"]
    await world.lender_says(
        lender,
        txn,
        "Loaned",
        reason="RenewResponse",
        answer="yes",
        due_date=(world.clock.now() + timedelta(days=30)).date(),
    )
    await world.requester_says("eduhk", txn, "ShippedReturn")
    await world.lender_says(lender, txn, "LoanCompleted", reason="StatusChange")
    doc = await world.transaction(txn)
    assert doc["state"] == "LoanCompleted" and doc["flags"] == []
    actions = [e.payload["action"] for e in world.received(lender, txn, "ill.requester_message")]
    assert actions == ["Received", "CheckedOut", "Renew", "ShippedReturn"]
    assert not [h for h in doc["history"] if h["refused"]]
    assert {h["side"] for h in doc["history"]} == {"requester", "supplier", "broker"}
