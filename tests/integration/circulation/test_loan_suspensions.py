"""An HKALL member's circulation (EdUHK) on SQLite and PostgreSQL: the daily overdue run
tells a borrower, once, when an overdue loan has suspended their privileges (HKALL-18: a
recalled book overdue; HKALL-19: the maximum fine reached), next to the HKALL-15 reminders."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from libs.common.db import unit_of_work
from libs.common.policy import load_policy
from services.circulation.adapters import loans_repo
from services.circulation.domain.lending import recall_loan
from tests.integration.circulation.conftest import hkt, open_desk

LIBRARY = "eduhk"
RUN = "/api/v1/loans/overdue-notices"


@pytest.fixture
async def desk(database_url, clock):
    async with open_desk(database_url, clock, LIBRARY) as d:
        yield d


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def _student_loan(desk) -> tuple[dict, dict, dict]:
    student = await desk.register(category="student", email="student@s.eduhk.example.hk")
    book = await desk.add_item(title="Teaching in Hong Kong", service_point="mmw")
    res = await desk.checkout(student["card_number"], book)
    assert res.status_code == 201, res.text
    [loan] = res.json()["loans"]
    return student, book, loan


async def _run_on(desk, day: date) -> list[dict]:
    await desk.travel(hkt(day.year, day.month, day.day, 8))
    first, second = await desk.post(RUN), await desk.post(RUN)
    assert first.status_code == second.status_code == 200, first.text
    assert second.json()["sent"] == []  # the second run of a day finds everything sent
    return first.json()["sent"]


async def _suspensions(desk, patron: dict) -> list[dict]:
    return [n for n in await desk.notices(pid(patron)) if n["kind"] == "suspension"]


async def test_a_recalled_book_overdue_suspends_and_is_told_once_HKALL_18(desk):
    student, _book, loan = await _student_loan(desk)
    # HKALL-11: the owning library recalls it (no staff route yet; the domain does it).
    async with unit_of_work(desk.runtime.engine) as conn:
        current = await loans_repo.get_loan(conn, loan["loan_id"])
        recall = recall_loan(
            load_policy("hkall"), current, requested_by_library=LIBRARY, at=desk.clock.now()
        )
        assert recall.decision.allowed
        await loans_repo.save_loan(conn, recall.loan)
    due = recall.loan.due_date
    assert await _run_on(desk, due) == []
    sent = await _run_on(desk, due + timedelta(days=1))
    mine = [(s["kind"], s["rule"]) for s in sent if s["patron_id"] == pid(student)]
    assert sorted(mine) == [("overdue", "HKALL-15"), ("suspension", "HKALL-18")]
    for day in range(2, 6):
        await _run_on(desk, due + timedelta(days=day))
    [notice] = await _suspensions(desk, student)
    assert notice["rule"] == "HKALL-18" and "recalled item is overdue" in notice["reason"]
    assert notice["title"] == "Teaching in Hong Kong"
    assert notice["due_date"] == due.isoformat()
    # The same suspension refuses the next checkout.
    res = await desk.checkout(student["card_number"], await desk.add_item(service_point="mmw"))
    assert res.status_code == 409 and "HKALL-18" in res.json()["rules"]


async def test_the_maximum_fine_suspends_and_is_told_once_HKALL_19(desk):
    student, _book, loan = await _student_loan(desk)
    due = date.fromisoformat(loan["due_date"])
    told = []
    for day in range(1, 18):
        sent = await _run_on(desk, due + timedelta(days=day))
        told += [(day, s["kind"]) for s in sent if s["patron_id"] == pid(student)]
    # HKALL-15 reminders on days 1, 7 and 14; HKALL-16: $2 a day reaches $30 on day 15.
    assert told == [(1, "overdue"), (7, "overdue"), (14, "overdue"), (15, "suspension")]
    [notice] = await _suspensions(desk, student)
    assert notice["rule"] == "HKALL-19" and "maximum fine" in notice["reason"]
