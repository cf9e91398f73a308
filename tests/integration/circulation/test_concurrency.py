"""Two counters (or a double click) acting on one loan at once: each loan is returned,
charged lost or renewed once, with one fine, whatever order the database runs them in; and
the numbering counters stay right when several transactions use a new one at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from sqlalchemy import select

from libs.common.db import unit_of_work
from services.circulation.adapters import counters_repo
from services.circulation.adapters.tables import loans
from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def _charges(desk, patron: dict) -> list[str]:
    res = await desk.get(f"/api/v1/patrons/{pid(patron)}/charges")
    return [e["kind"] for e in res.json()["entries"]]


async def _stored_loan(desk, loan_id: str):
    async with desk.runtime.engine.connect() as conn:
        return (await conn.execute(select(loans).where(loans.c.id == loan_id))).one()


async def test_four_returns_of_one_late_item_at_once_charge_one_fine_HKPL_10(desk):
    patron = await desk.register()
    item = await desk.add_item()
    assert (await desk.checkout(patron["card_number"], item)).status_code == 201
    await desk.travel(hkt(2026, 2, 18))  # due 8 Feb: ten days late
    answers = await asyncio.gather(*[desk.give_back(item) for _ in range(4)])
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 3}, [r.text for r in answers]
    assert await _charges(desk, patron) == ["overdue_fine"]
    fines = [n for n in await desk.notices(pid(patron)) if n["kind"] == "fine"]
    assert len(fines) == 1


async def test_two_loss_reports_and_a_return_at_once_end_the_loan_once_HKPL_13(desk):
    patron = await desk.register()
    item = await desk.add_item(price_minor=10_000)
    res = await desk.checkout(patron["card_number"], item)
    loan_id = res.json()["loans"][0]["loan_id"]
    await desk.travel(hkt(2026, 2, 18))
    lost = f"/api/v1/loans/{loan_id}/lost"
    answers = await asyncio.gather(
        desk.post(lost, {}), desk.post(lost, {}), desk.give_back(item), desk.post(lost, {})
    )
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 3}, [r.text for r in answers]
    kinds = Counter(await _charges(desk, patron))
    assert kinds["overdue_fine"] == 1 and kinds["lost_item"] <= 1


async def test_a_return_racing_a_renewal_keeps_what_the_renewal_wrote_HKPL_02(desk):
    for _ in range(3):
        patron = await desk.register()
        item = await desk.add_item()
        res = await desk.checkout(patron["card_number"], item)
        loan_id = res.json()["loans"][0]["loan_id"]
        await desk.travel(hkt(2026, 2, 6))
        renewal, back = await asyncio.gather(
            desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]}),
            desk.give_back(item),
        )
        assert back.status_code == 201, back.text
        stored = await _stored_loan(desk, loan_id)
        assert stored.returned_at is not None
        if renewal.status_code == 201:
            # The renewal ran first: the return must not write the old loan back over it.
            assert (stored.renewals, str(stored.due_date)) == (1, "2026-02-20")
        else:
            assert renewal.status_code in (404, 409), renewal.text
            assert stored.renewals == 0
        await desk.travel(hkt(2026, 1, 25))


async def test_a_new_counter_used_by_several_transactions_at_once_numbers_each_once(desk):
    """The first renewal's reference number (HKPL-06) or ledger entry of a library: every
    transaction drawing from the brand-new counter at once gets its own numbers."""
    name = f"t-{uuid.uuid4().hex[:12]}"

    async def draw(count: int) -> list[int]:
        async with unit_of_work(desk.runtime.engine) as conn:
            first = await counters_repo.next_number(conn, name, count)
        return list(range(first, first + count))

    drawn = await asyncio.gather(*[draw(n % 3 + 1) for n in range(8)])
    numbers = sorted(x for batch in drawn for x in batch)
    assert numbers == list(range(1, len(numbers) + 1))


async def test_first_renewals_of_several_patrons_at_once_all_succeed_HKPL_06(desk):
    lent = []
    for _ in range(5):
        patron = await desk.register()
        res = await desk.checkout(patron["card_number"], await desk.add_item())
        lent.append((pid(patron), res.json()["loans"][0]["loan_id"]))
    await desk.travel(hkt(2026, 1, 27))
    answers = await asyncio.gather(
        *[desk.post(f"/api/v1/patrons/{p}/renewals", {"loan_ids": [x]}) for p, x in lent]
    )
    assert [r.status_code for r in answers] == [201] * 5, [r.text for r in answers]
    assert len({r.json()["transaction_ref"] for r in answers}) == 5
