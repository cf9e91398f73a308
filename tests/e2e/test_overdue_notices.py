"""The embedded way, end to end: a Hong Kong Public Libraries patron keeps a book past its
due date; the clock moves day by day; the library's own daily overdue job runs twice a day;
the notices cross the memory bus to the notifier, which mails them to the local SMTP server.
The patron receives exactly the reminders HKPL's policy schedule sets, each once, in their
language, naming the book and its due date (HKALL-15's overdue notice; HKPL-10's fine)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, date, datetime, timedelta

import httpx

from deploy.queues import federation_queues
from libs.common.auth import client_secret
from libs.common.clock import ManualClock
from libs.common.db import sqlite_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.migrate import upgrade
from libs.common.policy import load_policy
from libs.common.settings import DEV_SECRET
from services.circulation.app import create_app
from services.circulation.runtime import build_runtime as build_circulation
from services.notifier.runtime import build_runtime as build_notifier

LIBRARY = "hkpl"
TITLE = "香港歷史 A History of Hong Kong"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hkt(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def schedule_days(last_day: int) -> list[int]:
    """The days late on which HKPL's schedule sends a reminder, read from the policy data
    (first the listed days, then one every interval, up to the maximum)."""
    terms = load_policy(LIBRARY).overdue_notices
    assert terms is not None
    days = list(terms.days_after_due)
    while terms.repeat_every_days and days[-1] + terms.repeat_every_days <= last_day:
        days.append(days[-1] + terms.repeat_every_days)
    return [d for d in days if d <= last_day][: terms.max_notices]


async def _staff(client: httpx.AsyncClient) -> dict[str, str]:
    res = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": LIBRARY,
            "client_secret": client_secret(DEV_SECRET, LIBRARY),
        },
    )
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


async def _lend(client: httpx.AsyncClient) -> dict:
    staff = await _staff(client)
    patron = await client.post(
        "/api/v1/patrons",
        json={
            "category": "adult",
            "name_en": "Chan Tai Man",
            "name_zh": "陳大文",
            "date_of_birth": "1990-04-01",
            "language": "zh-Hant",
            "address": {"lines": ["1 Nathan Road"], "district": "Yau Tsim Mong"},
            "email": "chan.taiman@example.hk",
            "card_number": "E2EOVERDUE1",
            "password": "s3cret-pass",
        },
        headers=staff,
    )
    assert patron.status_code == 201, patron.text
    item = await client.post(
        "/api/v1/items",
        json={
            "barcode": "E2E-OVERDUE-1",
            "title": TITLE,
            "material_type": "book",
            "service_point": "hkcl",
        },
        headers=staff,
    )
    assert item.status_code == 201, item.text
    loan = await client.post(
        "/api/v1/loans",
        json={"card_number": "E2EOVERDUE1", "item_id": item.json()["id"]},
        headers=staff,
    )
    assert loan.status_code == 201, loan.text
    [lent] = loan.json()["loans"]
    return lent


async def test_overdue_reminders_follow_the_hkpl_schedule_once_each_HKALL_15(tmp_path):
    fed = default_federation()
    clock = ManualClock(hkt(date(2026, 1, 25), 10))
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    lib_url, notifier_url = sqlite_url(tmp_path / "hkpl.db"), sqlite_url(tmp_path / "n.db")
    await upgrade("circulation", lib_url)
    await upgrade("notifier", notifier_url)
    notifier = build_notifier(
        fed,
        notifier_url,
        broker.handle("notifier"),
        clock,
        mailbox_port=_free_port(),
        poll_interval=0.05,
    )
    circulation = build_circulation(LIBRARY, lib_url, broker.handle(LIBRARY), clock)
    app = create_app(circulation, fed, DEV_SECRET)
    [job] = [j for j in circulation.jobs if j.name == "overdue-notices"]
    await notifier.start()
    await circulation.start()
    mailbox = notifier.extras["mailbox"]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hkpl.test") as client:
            loan = await _lend(client)
        due = date.fromisoformat(loan["due_date"])
        assert due == date(2026, 2, 8)  # HKPL-01
        last_day = 70  # past the 60-day overdue time limit (HKPL-03), where the schedule ends
        expected = schedule_days(last_day)
        assert expected == [1, 7, 21, 35, 49]
        for late in range(0, last_day + 1):
            for hour in (1, 15):  # twice a day, as two replicas or a restart would
                clock.set(hkt(due + timedelta(days=late), hour))
                await job.run()
            if late in expected:
                # Delivered before the clock moves on, so each mail is dated its own day.
                await mailbox.wait_for(expected.index(late) + 1, timeout=10)
        await asyncio.sleep(0.3)  # a mail sent twice would have arrived by now
        mails = mailbox.messages(to="chan.taiman@example.hk")
        assert len(mails) == len(expected) == 5
        for mail, late in zip(mails, expected, strict=True):
            # In the patron's language: the Chinese notice, the date written the Chinese way.
            assert mail.subject == f"逾期通知：《{TITLE}》已於2026年2月8日到期"
            assert TITLE in mail.text and "2026年2月8日" in mail.text
            assert f"逾期日數：{late}" in mail.text
            # HKPL-10: $1.5 a day from an adult library, so far.
            assert f"港幣{late * 1.5:.2f}元" in mail.text
            assert "香港公共圖書館" in mail.text  # signed with the library's Chinese name
        assert len(mailbox.messages()) == len(expected)
    finally:
        await circulation.close()
        await notifier.close()
