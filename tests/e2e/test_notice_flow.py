"""A library's notice request crosses the bus to the notifier and arrives as one e-mail in
the local SMTP server, even when the request is delivered twice (HKALL-05, HKALL-06)."""

from __future__ import annotations

import asyncio
import socket
from datetime import date

from sqlalchemy import update

from deploy.queues import federation_queues
from libs.common.clock import ManualClock
from libs.common.contracts import NoticeRequested
from libs.common.db import make_engine, sqlite_url, unit_of_work
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import OutboxRelay, send
from libs.common.migrate import upgrade
from services.circulation.adapters.tables import outbox
from services.notifier.runtime import build_runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_arrival_notice_reaches_the_patron_once(tmp_path):
    fed = default_federation()
    clock = ManualClock()
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    lib_url, notifier_url = sqlite_url(tmp_path / "eduhk.db"), sqlite_url(tmp_path / "n.db")
    await upgrade("circulation", lib_url)
    await upgrade("notifier", notifier_url)
    notifier = build_runtime(
        fed,
        notifier_url,
        broker.handle("notifier"),
        clock,
        mailbox_port=_free_port(),
        poll_interval=0.05,
    )
    await notifier.start()
    mailbox = notifier.extras["mailbox"]
    engine = make_engine(lib_url)
    relay = OutboxRelay(engine, outbox, broker.handle("eduhk"), clock)
    try:
        notice = NoticeRequested(
            notice_id="eduhk-arrival-42",
            kind="ill_arrived",
            library="eduhk",
            patron_ref="p-7f3a",
            email="chan.taiman@student.example.hk",
            patron_name="Chan Tai Man",
            language="en",
            title="香港歷史",
            pickup_by=date(2026, 1, 10),
            pickup_location="MMW Library circulation counter",
        )
        async with unit_of_work(engine) as conn:
            await send(
                conn,
                outbox,
                notice,
                sender="eduhk",
                recipient="notifier",
                correlation_id="ill-42",
                clock=clock,
                causation_id=None,
            )
        await relay.drain()
        # The relay dies before marking it sent: the request goes out a second time.
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(sent_at=None))
        await relay.drain()
        [mail] = await mailbox.wait_for(1, timeout=10)
        assert mail.to == "chan.taiman@student.example.hk"
        assert "香港歷史" in mail.text and "2026-01-10" in mail.text
        assert "MMW Library" in mail.text
        for _ in range(100):  # the duplicate is absorbed by the inbox and acked
            if broker.depth("notifier.notices") == 0:
                break
            await asyncio.sleep(0.02)
        assert broker.depth("notifier.notices") == 0
        await asyncio.sleep(0.2)  # a second mail, were there one, would be here by now
        assert len(mailbox.messages()) == 1
    finally:
        await notifier.close()
        await engine.dispose()
