"""Notices delivered over real SMTP to a real server on 127.0.0.1, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.clock import ManualClock
from libs.common.contracts.events import NoticeRequested
from libs.common.policy import load_policy
from libs.common.policy.overdue_notices import overdue_notice_due, overdue_notice_id
from services.notifier.adapters import repository
from services.notifier.adapters.delivery import DeliveryLoop, DeliveryWorker, deliver_due
from services.notifier.adapters.mailbox import Mailbox
from services.notifier.adapters.rendering import NoticeRenderer
from services.notifier.adapters.smtp import message_id_for
from services.notifier.adapters.tables import notices
from services.notifier.domain.kinds import NOTICE_KINDS
from tests.integration.notifier.conftest import TEST_RETRY
from tests.integration.notifier.sample import notice_event

EDUHK_NAME = "The Education University of Hong Kong Library"


async def record(engine: AsyncEngine, event: NoticeRequested, clock: ManualClock) -> bool:
    async with engine.begin() as conn:
        return await repository.record_notice(conn, event, clock.now())


async def stored(engine: AsyncEngine, notice_id: str) -> dict:
    async with engine.connect() as conn:
        row = (await conn.execute(select(notices).where(notices.c.notice_id == notice_id))).first()
    assert row is not None
    return dict(row._mapping)


async def test_ill_arrived_reaches_the_patron_in_chinese_with_pickup_day_hkall_05_06(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """HKALL-05: e-mailed on arrival at the pickup location; HKALL-06: with the last day."""
    event = notice_event(
        kind="ill_arrived",
        language="zh-Hant",
        patron_name="陳大文",
        title="紅樓夢",
        pickup_by=date(2026, 12, 1),
        pickup_location="Tseung Kwan O Study Centre Library",
        transaction_ref="ILL-2026-0042",
    )
    assert await record(engine, event, clock)

    assert await worker.deliver_due() == 1

    [mail] = mailbox.messages()
    assert mail.subject == "館際互借書籍已到館，請於2026年12月1日或之前領取：《紅樓夢》"
    assert mail.rcpt_tos == ("chan.taiman@example.org",)
    assert mail.to == "chan.taiman@example.org"
    # A Chinese notice comes from the library's Chinese name.
    assert mail.from_ == "香港教育大學圖書館 <hkall@eduhk.example.hk>"
    assert mail.language == "zh-Hant"
    assert mail.message_id == f"<notice.{event.notice_id}@eduhk.example.hk>"
    assert mail.date == "Thu, 26 Nov 2026 01:00:00 +0000"  # from the injected clock
    assert mail.text is not None and mail.html is not None
    assert "陳大文您好" in mail.text
    assert "領取期限：2026年12月1日" in mail.text
    assert "Tseung Kwan O Study Centre Library" in mail.text
    assert "ILL-2026-0042" in mail.text
    assert "<strong>2026年12月1日</strong>" in mail.html
    # The subject travelled RFC 2047-encoded, as plain ASCII on the wire.
    assert b"Subject: =?utf-8?" in mail.raw

    row = await stored(engine, event.notice_id)
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert row["sent_at"] == clock.now()
    assert row["email"] is None and row["patron_name"] is None  # erased once delivered


async def test_renewal_approved_mail_shows_new_due_date_and_reference_hkall_13_hkpl_06(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """HKALL-13: the renewal result is e-mailed; HKPL-06: with the new due date and the
    Transaction Reference Number."""
    event = notice_event(
        kind="renewal_approved",
        library="hkpl",
        language="en",
        title="A Brief History of Time",
        due_date=date(2026, 12, 20),
        transaction_ref="TRN-20261206-0007",
        pickup_by=None,
        pickup_location=None,
    )
    await record(engine, event, clock)

    await worker.deliver_due()

    [mail] = mailbox.messages()
    assert mail.subject == (
        "Renewal approved: A Brief History of Time is now due 2026-12-20 (ref. TRN-20261206-0007)"
    )
    assert mail.from_ == "Hong Kong Public Libraries <enquiries@hkpl.example.gov.hk>"
    assert mail.language == "en"
    assert "New due date:                  2026-12-20" in mail.text
    assert "Transaction Reference Number:  TRN-20261206-0007" in mail.text
    assert "TRN-20261206-0007" in mail.html


async def test_recall_and_overdue_notices_carry_their_dates_hkall_11_hkall_15(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """HKALL-11 / MALA-06: a recall gives the date to return by; HKALL-15: an overdue
    notice names the due date and says a missed notice does not waive the fine."""
    recall = notice_event(kind="recall", library="kwnc", due_date=date(2026, 12, 11))
    overdue = notice_event(kind="overdue", language="zh-Hant", due_date=date(2026, 11, 20))
    await record(engine, recall, clock)
    await record(engine, overdue, clock)

    assert await worker.deliver_due() == 2

    by_id = {m.message_id: m for m in mailbox.messages()}
    recall_mail = by_id[f"<notice.{recall.notice_id}@kwnc.example.edu.mo>"]
    assert recall_mail.subject == "Recall: please return Pride and Prejudice by 2026-12-11"
    assert "Kiang Wu Nursing College of Macau Library" in recall_mail.from_
    overdue_mail = by_id[f"<notice.{overdue.notice_id}@eduhk.example.hk>"]
    assert overdue_mail.subject == "逾期通知：《Pride and Prejudice》已於2026年11月20日到期"
    assert "未有收到此通知並不豁免罰款" in overdue_mail.text


async def test_the_same_event_twice_sends_one_mail(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    event = notice_event()
    assert await record(engine, event, clock) is True
    assert await record(engine, event, clock) is False

    await worker.deliver_due()
    # Redelivered again after the mail went out: still nothing new, address stays erased.
    assert await record(engine, event, clock) is False
    clock.advance(hours=1)
    assert await worker.deliver_due() == 0

    assert len(mailbox.messages()) == 1
    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"], row["email"]) == ("sent", 1, None)


async def test_server_refusing_twice_then_accepting_gets_the_mail_once(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    event = notice_event(
        kind="renewal_approved", due_date=date(2026, 12, 20), transaction_ref="TRN-1"
    )
    await record(engine, event, clock)
    mailbox.refuse_next(2)  # SMTP 451, twice

    assert await worker.deliver_due() == 1
    row = await stored(engine, event.notice_id)
    assert row["status"] == "retry_scheduled"
    assert row["attempts"] == 1
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=30)
    assert "451" in row["last_error"]
    assert row["email"] == "chan.taiman@example.org"  # still needed for the retry

    # Not before the backoff has passed.
    clock.advance(seconds=29)
    assert await worker.deliver_due() == 0

    clock.advance(seconds=1)
    assert await worker.deliver_due() == 1
    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"]) == ("retry_scheduled", 2)
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=60)  # doubled

    clock.advance(seconds=60)
    assert await worker.deliver_due() == 1

    assert mailbox.refused == 2
    [mail] = mailbox.messages()
    assert mail.message_id == f"<notice.{event.notice_id}@eduhk.example.hk>"
    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 3, clock.now())
    assert row["email"] is None

    clock.advance(hours=2)
    assert await worker.deliver_due() == 0
    assert len(mailbox.messages()) == 1


async def test_server_always_refusing_ends_failed_listed_for_operators_address_erased(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    event = notice_event(kind="overdue", due_date=date(2026, 11, 20))
    await record(engine, event, clock)
    mailbox.refuse_always(text="4.2.2 chan.taiman@example.org is over quota")

    for _ in range(TEST_RETRY.max_attempts):
        assert await worker.deliver_due() == 1
        clock.advance(minutes=10)
    assert await worker.deliver_due() == 0  # given up: nothing left to try

    assert mailbox.messages() == []
    assert mailbox.refused == TEST_RETRY.max_attempts
    row = await stored(engine, event.notice_id)
    assert row["status"] == "failed"
    assert row["attempts"] == TEST_RETRY.max_attempts
    assert row["failed_at"] is not None and row["sent_at"] is None
    assert row["email"] is None and row["patron_name"] is None
    # The server quoted the address back; the stored error does not keep it.
    assert "chan.taiman@example.org" not in row["last_error"]
    assert "gave up after 3 attempts" in row["last_error"]

    async with engine.connect() as conn:
        page = await repository.list_failed(conn)
        counts = await repository.count_by_status(conn)
    assert [n.notice_id for n in page.items] == [event.notice_id]
    failed = page.items[0]
    assert (failed.library, failed.kind, failed.patron_ref) == ("eduhk", "overdue", "eduhk:p-0001")
    assert failed.has_address is False
    assert "email" not in failed.payload and "patron_name" not in failed.payload
    assert counts["failed"] == 1


async def test_a_permanent_refusal_fails_at_once(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    event = notice_event()
    await record(engine, event, clock)
    mailbox.refuse_next(1, code=550, text="5.1.1 no such user")

    await worker.deliver_due()

    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "refused permanently" in row["last_error"]
    assert row["email"] is None


async def test_a_notice_that_cannot_be_written_fails_visibly_instead_of_mailing_blanks(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    no_pickup_day = notice_event(kind="ill_arrived", pickup_by=None)
    unknown_library = notice_event(library="atlantis")
    await record(engine, no_pickup_day, clock)
    await record(engine, unknown_library, clock)

    await worker.deliver_due()

    assert mailbox.messages() == []
    first = await stored(engine, no_pickup_day.notice_id)
    second = await stored(engine, unknown_library.notice_id)
    assert first["status"] == second["status"] == "failed"
    assert "needs pickup_by" in first["last_error"]
    assert "atlantis" in second["last_error"]


async def test_a_worker_that_died_mid_send_leaves_the_notice_to_be_sent_later(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    event = notice_event()
    await record(engine, event, clock)
    async with engine.begin() as conn:
        [claimed] = await repository.claim_due(conn, clock.now(), lease=timedelta(minutes=10))
    # ...and that worker never reports back. Until its lease ends nobody else sends.
    assert await worker.deliver_due() == 0
    clock.advance(minutes=10)
    assert await worker.deliver_due() == 1

    [mail] = mailbox.messages()
    assert mail.message_id == f"<notice.{event.notice_id}@eduhk.example.hk>"
    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    # The dead worker's late verdict cannot overwrite the outcome.
    async with engine.begin() as conn:
        assert not await repository.schedule_retry(
            conn,
            event.notice_id,
            attempt=claimed.attempt,
            at=clock.now(),
            error="late",
            now=clock.now(),
        )
        assert not await repository.mark_failed(
            conn, event.notice_id, attempt=claimed.attempt, error="late", now=clock.now()
        )
    assert (await stored(engine, event.notice_id))["status"] == "sent"


async def test_deliver_due_function_and_background_loop(
    engine: AsyncEngine, mailbox: Mailbox, clock: ManualClock
) -> None:
    settings = mailbox.smtp_settings()
    await record(engine, notice_event(), clock)
    assert await deliver_due(engine, settings, clock) == 1

    loop = DeliveryLoop(DeliveryWorker(engine, settings, clock), poll_interval=3600)
    loop.start()
    try:
        await asyncio.sleep(0.1)  # the first pass finds nothing and waits for an hour...
        await record(engine, notice_event(kind="ill_cancelled"), clock)
        loop.wake()  # ...unless woken, as the consumer does after a commit
        await mailbox.wait_for(2, timeout=5)
    finally:
        await loop.stop()
    assert not loop.running
    assert mailbox.messages()[1].subject == "Your request has been cancelled: Pride and Prejudice"


async def test_repeated_overdue_notices_each_go_once_hkall_15(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """HKALL-15: overdue notices repeat on the home library's schedule; each repeat is its
    own event and is sent once, however often the bus delivers it."""
    first = notice_event(notice_id="overdue:loan-7:1", kind="overdue", due_date=date(2026, 11, 20))
    await record(engine, first, clock)
    await worker.deliver_due()
    clock.advance(days=7)
    second = first.model_copy(update={"notice_id": "overdue:loan-7:2"})
    await record(engine, second, clock)
    await record(engine, first, clock)  # a late redelivery of the first one
    await worker.deliver_due()

    mails = mailbox.messages()
    assert len(mails) == 2
    assert len({m.message_id for m in mails}) == 2
    assert all(m.subject == "Overdue: Pride and Prejudice was due on 2026-11-20" for m in mails)


async def test_a_broken_template_edit_is_retried_and_the_fix_is_picked_up_without_restart(
    engine: AsyncEngine, mailbox: Mailbox, clock: ManualClock, tmp_path: Path
) -> None:
    override = tmp_path / "eduhk" / "en" / "ill_arrived.subject.txt.j2"
    override.parent.mkdir(parents=True)
    override.write_text("Ready: {{ titel }}", encoding="utf-8")  # misspelt variable
    worker = DeliveryWorker(
        engine,
        mailbox.smtp_settings(),
        clock,
        renderer=NoticeRenderer(extra_dirs=[tmp_path]),
        retry=TEST_RETRY,
    )
    event = notice_event()
    await record(engine, event, clock)

    await worker.deliver_due()
    row = await stored(engine, event.notice_id)
    assert row["status"] == "retry_scheduled"
    assert "template error" in row["last_error"] and "titel" in row["last_error"]

    override.write_text("Ready at EdUHK: {{ title }}", encoding="utf-8")
    later = override.stat().st_mtime + 10  # make the edit visible whatever the clock grain
    os.utime(override, (later, later))
    clock.advance(seconds=30)
    await worker.deliver_due()

    [mail] = mailbox.messages()
    assert mail.subject == "Ready at EdUHK: Pride and Prejudice"


async def test_hkall_15_the_policy_schedule_mails_an_overdue_book_three_times_each_once(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """HKALL-15 with the schedule of deploy/policies/hkall.toml: a home library's daily job,
    run twice a day for three weeks, asks for the reminders the policy says are due; the
    patron gets one e-mail 1, 7 and 14 days late, and no more."""
    hkall = load_policy("hkall")
    due = hkall.local_date(clock.now()) - timedelta(days=1)  # the book is due yesterday
    last_sent = 0
    for _day in range(21):
        for run in range(2):
            today = hkall.local_date(clock.now())
            reminder = overdue_notice_due(hkall, due_date=due, on=today, already_sent=last_sent)
            if reminder is not None:
                event = notice_event(
                    notice_id=overdue_notice_id("eduhk:loan-7", reminder.number),
                    kind="overdue",
                    due_date=due,
                    occurred_at=clock.now(),
                )
                await record(engine, event, clock)
                # The first run of each day "dies" before recording its progress, so the
                # second asks again: with the same notice id, which sends nothing more.
                if run == 1:
                    last_sent = reminder.number
            await worker.deliver_due()
        clock.advance(days=1)

    mails = mailbox.messages()
    assert [m.message_id for m in mails] == [
        message_id_for(overdue_notice_id("eduhk:loan-7", n), "hkall@eduhk.example.hk")
        for n in (1, 2, 3)
    ]
    days_late = [
        line.split()[-1]
        for m in mails
        for line in (m.text or "").splitlines()
        if "Days overdue" in line
    ]
    assert days_late == ["1", "7", "14"]
    assert all("not receiving this notice does not waive them" in (m.text or "") for m in mails)


# What each kind's mail must say, beyond the title: the facts a patron acts on.
DUE, PICKUP_BY = date(2026, 12, 10), date(2026, 12, 1)
KIND_FACTS: dict[str, tuple[str, ...]] = {
    "ill_arrived": ("pickup_by", "pickup_location"),  # HKALL-05, HKALL-06
    "reservation_ready": ("pickup_by", "pickup_location", "amount"),  # HKPL, HKPL-11 fee
    "recall": ("due_date",),  # HKALL-11, MALA-06: the new due date
    "overdue": ("due_date",),  # HKALL-15
    "renewal_approved": ("due_date", "transaction_ref"),  # HKALL-13, HKPL-06
    "renewal_denied": ("rule", "reason"),  # HKALL-13: the rule that refused
    "fine": ("amount",),  # HKALL-16..19
    "suspension": ("rule", "reason"),  # HKALL-18, HKALL-19
    "lost_card_reported": ("amount",),  # HKPL-12, HKPL-15, MALA-12
    "ill_unfilled": ("transaction_ref",),
    "ill_cancelled": ("transaction_ref",),
    "ill_charged": ("amount", "rule"),  # HKALL-20, MALA-11: the lender's charge
    "suspension_lifted": ("rule", "reason"),  # HKALL-18, HKALL-19: the condition cleared
}


def _facts(language: str) -> dict[str, str]:
    zh = language == "zh-Hant"
    return {
        "due_date": "2026年12月10日" if zh else "2026-12-10",
        "pickup_by": "2026年12月1日" if zh else "2026-12-01",
        "pickup_location": "MMW Library circulation counter",
        "transaction_ref": "TRN-20261206-0007",
        "rule": "HKALL-19",
        "reason": "maximum fine reached",
        "amount": "港幣30.00元" if zh else "HKD 30.00",
    }


async def test_every_kind_arrives_over_smtp_in_both_languages_with_text_html_and_its_facts(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    """Every notice kind, English and Traditional Chinese, as a real SMTP server receives
    it: plain-text and HTML parts, the home library's name and contact in both, and the
    dates, reference, rule and amount the patron needs, written in the patron's language."""
    assert set(KIND_FACTS) == set(NOTICE_KINDS)
    events = {}
    for kind in NOTICE_KINDS:
        for language in ("en", "zh-Hant"):
            event = notice_event(
                kind=kind,
                language=language,
                title="紅樓夢",
                due_date=DUE,
                pickup_by=PICKUP_BY,
                transaction_ref="TRN-20261206-0007",
                rule="HKALL-19",
                reason="maximum fine reached",
                amount_minor=3000,
                currency="HKD",
                occurred_at=clock.now(),
            )
            events[message_id_for(event.notice_id, "hkall@eduhk.example.hk")] = event
            await record(engine, event, clock)
    worker.batch_size = len(events)

    assert await worker.deliver_due() == len(events)

    mails = {m.message_id: m for m in mailbox.messages()}
    assert set(mails) == set(events)
    for message_id, event in events.items():
        mail = mails[message_id]
        where = f"{event.kind} in {event.language}"
        assert mail.language == event.language, where
        assert mail.text and mail.html, where
        assert mail.subject, where
        for part in (mail.text, mail.html):
            name = "香港教育大學圖書館" if event.language == "zh-Hant" else EDUHK_NAME
            assert name in part, where
            assert "hkall@eduhk.example.hk" in part, where
        if event.kind != "lost_card_reported":
            assert "紅樓夢" in mail.subject + mail.text, where
        facts = _facts(event.language)
        for name in KIND_FACTS[event.kind]:
            assert facts[name] in mail.text, f"{where}: {name}"
            assert facts[name] in mail.html, f"{where}: {name} (HTML)"


async def test_the_delivery_table_guards_every_write(
    engine: AsyncEngine, mailbox: Mailbox, worker: DeliveryWorker, clock: ManualClock
) -> None:
    # A notice not yet claimed cannot be recorded as sent: no step leads from pending to sent,
    # so the guarded update touches no row whoever asks.
    event = notice_event()
    await record(engine, event, clock)
    async with engine.begin() as conn:
        assert not await repository.mark_sent(conn, event.notice_id, clock.now())
    assert (await stored(engine, event.notice_id))["status"] == "pending"

    assert await worker.deliver_due() == 1
    # Sent is terminal: a second "sent" (a duplicate report) and a claim change nothing.
    async with engine.begin() as conn:
        assert not await repository.mark_sent(conn, event.notice_id, clock.now())
        assert await repository.claim_due(conn, clock.now(), lease=timedelta(minutes=1)) == []
    row = await stored(engine, event.notice_id)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert len(mailbox.messages()) == 1
