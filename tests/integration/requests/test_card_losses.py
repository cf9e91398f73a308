"""MALA-12 through the real broker on PostgreSQL: a home library's report of a lost
institutional card reaches the lender that issued it with a patron reference derived for that
lender, and is noted in each named transaction's history; a report about another library's
transaction, or to a library outside the consortium, is dead-lettered with the reason."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from libs.common.contracts import IllCardLost
from services.requests.adapters.tables import dead_letters
from services.requests.domain.routing import pseudonym

pytestmark = pytest.mark.pg


async def _checked_out(world, home: str, lender: str) -> str:
    req = world.request(home, await world.catalogue_record(lender))
    await world.say(home, req)
    txn = req.transaction_id
    await world.lender_says(lender, txn, "WillSupply")
    await world.lender_says(lender, txn, "Loaned", reason="StatusChange")
    await world.requester_says(home, txn, "Received")
    await world.requester_says(home, txn, "CheckedOut")
    return txn


async def _report(world, home: str, lender: str, transactions: list[str]):
    msg = IllCardLost(
        report_id=str(uuid.uuid4()),
        requester=home,
        lender=lender,
        patron_ref="p-0123456789abcdef01234567",
        transactions=transactions,
        reported_at=world.clock.now(),
    )
    env = world.envelope(home, msg, msg.report_id)
    await world.publish(home, env)
    await world.settle()
    return msg, env


async def _dead_letter(world, message_id: str) -> dict | None:
    for _ in range(100):
        async with world.runtime.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(dead_letters).where(dead_letters.c.message_id == message_id)
                    )
                )
                .mappings()
                .first()
            )
        if row:
            return dict(row)
        await asyncio.sleep(0.02)
    return None


async def test_mala_12_the_lender_is_told_with_its_own_patron_reference(world):
    txn = await _checked_out(world, "um", "mpu")
    msg, env = await _report(world, "um", "mpu", [txn])
    [told] = world.received("mpu", msg.report_id, "ill.card_lost")
    assert told.payload["patron_ref"] == pseudonym(msg.patron_ref, "mpu") != msg.patron_ref
    assert told.payload["transactions"] == [txn] and told.payload["rule"] == "MALA-12"
    assert told.causation_id == env.message_id
    history = (await world.transaction(txn))["history"]
    assert any("MALA-12" in (h["detail"] or "") for h in history)
    assert not world.received("um", msg.report_id)  # nothing goes back to the home library


async def test_mala_12_a_report_the_broker_cannot_pass_on_is_dead_lettered(world):
    theirs = await _checked_out(world, "usj", "mpu")
    _, env = await _report(world, "um", "mpu", [theirs])
    row = await _dead_letter(world, env.message_id)
    assert row is not None and "is not one of um's" in row["reason"]
    _, env = await _report(world, "um", "hku", [])
    row = await _dead_letter(world, env.message_id)
    assert row is not None and "MALA-12" in row["reason"]
    assert not world.received("mpu", type_="ill.card_lost")
    assert not world.received("hku", type_="ill.card_lost")
