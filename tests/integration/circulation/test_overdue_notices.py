"""The daily overdue run on SQLite and PostgreSQL: each reminder of the library's schedule
written to the outbox once however often it runs (HKALL-15's notice, on HKPL's own
schedule), two runs at once included, and the staff route that runs it now."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from libs.common.db import make_engine, unit_of_work
from libs.common.federation import default_federation
from services.circulation.handlers.overdue import send_overdue_notices
from services.circulation.runtime import library_context
from tests.integration.circulation.conftest import hkt

RUN = "/api/v1/loans/overdue-notices"


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def _overdue_loan(desk, **patron_fields) -> tuple[dict, dict, dict]:
    patron = await desk.register(**patron_fields)
    item = await desk.add_item(title="香港歷史 A History of Hong Kong")
    res = await desk.checkout(patron["card_number"], item)
    assert res.status_code == 201, res.text
    [loan] = res.json()["loans"]
    return patron, item, loan


async def _reminders(desk, patron: dict) -> list[dict]:
    return [n for n in await desk.notices(pid(patron)) if n["kind"] == "overdue"]


async def test_each_reminder_of_the_hkpl_schedule_is_sent_once_twice_a_day_HKALL_15(desk):
    patron, _item, loan = await _overdue_loan(desk, language="zh-Hant")
    assert loan["due_date"] == "2026-02-08"  # HKPL-01: 14 days after the day of borrowing
    days_sent = []
    start = hkt(2026, 2, 8, 9)
    for day in range(0, 63):
        for hour in (0, 9):  # the morning run and a second one later the same day
            await desk.travel(start + timedelta(days=day, hours=hour))
            res = await desk.post(RUN)
            assert res.status_code == 200, res.text
            mine = [s for s in res.json()["sent"] if s["patron_id"] == pid(patron)]
            days_sent += [(day, s["number"]) for s in mine]
    # HKPL's schedule: 1 and 7 days late, then every 14 days, at most 5 notices.
    assert days_sent == [(1, 1), (7, 2), (21, 3), (35, 4), (49, 5)]
    reminders = await _reminders(desk, patron)
    assert [n["notice_id"] for n in reminders] == [
        f"overdue:hkpl:{loan['loan_id']}:{k}" for k in range(1, 6)
    ]
    first = reminders[0]
    assert first["title"] == "香港歷史 A History of Hong Kong"
    assert first["due_date"] == "2026-02-08" and first["language"] == "zh-Hant"
    assert first["email"] == "chan.taiman@example.hk"
    # HKPL-10: the fine so far, $1.5 a day from an adult library.
    assert (reminders[1]["amount_minor"], reminders[1]["currency"]) == (7 * 150, "HKD")


async def test_a_returned_item_gets_no_more_reminders_HKALL_15(desk):
    patron, item, _loan = await _overdue_loan(desk)
    await desk.travel(hkt(2026, 2, 10))
    assert (await desk.post(RUN)).status_code == 200
    assert (await desk.give_back(item)).status_code == 201
    await desk.travel(hkt(2026, 2, 20))
    res = await desk.post(RUN)
    assert res.status_code == 200
    assert [s for s in res.json()["sent"] if s["patron_id"] == pid(patron)] == []
    assert [n["notice_id"][-2:] for n in await _reminders(desk, patron)] == [":1"]


async def test_two_runs_at_once_write_each_reminder_once_HKALL_15(desk, database_url):
    patron, _item, _loan = await _overdue_loan(desk)
    await desk.travel(hkt(2026, 2, 9, 7))
    lib = library_context("hkpl", default_federation(), desk.clock)
    replica = make_engine(database_url)
    try:
        async with unit_of_work(desk.runtime.engine) as conn:
            first = await send_overdue_notices(conn, lib)

            async def other_replica():
                async with unit_of_work(replica) as other:
                    return await send_overdue_notices(other, lib)

            second_run = asyncio.create_task(other_replica())
            # The other replica now waits: on the first run's notice row (PostgreSQL) or on
            # the database lock (SQLite). It must not write the reminder a second time.
            await asyncio.sleep(0.3)
            assert not second_run.done()
        second = await second_run
    finally:
        await replica.dispose()
    mine = [n for n in first.sent if n.loan.patron_id == pid(patron)]
    assert [(n.kind, n.number) for n in mine] == [("overdue", 1)]
    assert [n for n in second.sent if n.loan.patron_id == pid(patron)] == []
    assert len(await _reminders(desk, patron)) == 1


async def test_the_run_now_route_is_for_the_librarys_own_staff(desk):
    res = await desk.client.post(RUN)
    assert res.status_code == 401
    await desk.travel(hkt(2026, 3, 1))
    res = await desk.post(RUN)
    assert res.status_code == 200
    body = res.json()
    assert body["day"] == "2026-03-01"
    assert body["reminders"] == sum(1 for s in body["sent"] if s["kind"] == "overdue")
