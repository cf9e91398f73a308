"""The notices table and its queries, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.clock import ManualClock
from services.notifier.adapters import repository
from services.notifier.adapters.tables import notices
from tests.integration.notifier.sample import notice_event


async def test_record_notice_keeps_personal_data_apart_from_the_payload(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    event = notice_event(kind="recall", due_date=date(2026, 12, 11), language="zh-Hant")
    async with engine.begin() as conn:
        assert await repository.record_notice(conn, event, clock.now())

    async with engine.connect() as conn:
        row = (await conn.execute(select(notices))).mappings().one()
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    assert row["email"] == "chan.taiman@example.org"
    assert row["patron_name"] == "Chan Tai Man"
    assert row["language"] == "zh-Hant"
    assert row["created_at"] == clock.now() == row["next_attempt_at"]
    assert row["payload"]["due_date"] == "2026-12-11"
    assert "email" not in row["payload"] and "patron_name" not in row["payload"]


async def test_a_second_record_inside_a_rolled_back_transaction_changes_nothing(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    event = notice_event()
    async with engine.begin() as conn:
        assert await repository.record_notice(conn, event, clock.now())
    # The caller's transaction is still usable after a duplicate.
    async with engine.begin() as conn:
        assert not await repository.record_notice(conn, event, clock.now())
        assert await repository.record_notice(conn, notice_event(), clock.now())
    async with engine.connect() as conn:
        counts = await repository.count_by_status(conn)
    assert counts == {"pending": 2, "sending": 0, "retry_scheduled": 0, "sent": 0, "failed": 0}


async def test_claim_takes_only_due_notices_oldest_first_and_counts_the_attempt(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    first, second = notice_event(), notice_event()
    async with engine.begin() as conn:
        await repository.record_notice(conn, first, clock.now())
        await repository.record_notice(conn, second, clock.now() + timedelta(seconds=1))
        late = notice_event()
        await repository.record_notice(conn, late, clock.now() + timedelta(hours=1))

    async with engine.begin() as conn:
        claimed = await repository.claim_due(
            conn, clock.now() + timedelta(seconds=1), limit=10, lease=timedelta(minutes=5)
        )
    assert [c.notice_id for c in claimed] == [first.notice_id, second.notice_id]
    assert all(c.attempt == 1 for c in claimed)
    assert claimed[0].to_event() == first

    async with engine.begin() as conn:
        # Claimed notices are leased: nobody takes them again before the lease ends.
        assert await repository.claim_due(conn, clock.now() + timedelta(minutes=4)) == []
        again = await repository.claim_due(conn, clock.now() + timedelta(minutes=5, seconds=1))
    assert {c.notice_id for c in again} == {first.notice_id, second.notice_id}
    assert {c.attempt for c in again} == {2}


# SQLite has one writer at a time: the concurrency to prove exists on PostgreSQL only.
@pytest.mark.pg
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_concurrent_claims_on_postgresql_never_share_a_notice(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    ids = set()
    async with engine.begin() as conn:
        for _ in range(10):
            event = notice_event()
            ids.add(event.notice_id)
            await repository.record_notice(conn, event, clock.now())

    async with engine.connect() as one, engine.connect() as two:
        await one.begin()
        await two.begin()
        first = await repository.claim_due(one, clock.now(), limit=6)
        # The second worker skips the rows the first holds locked instead of waiting.
        second = await asyncio.wait_for(repository.claim_due(two, clock.now(), limit=6), 5)
        await one.commit()
        await two.commit()
    first_ids = {c.notice_id for c in first}
    second_ids = {c.notice_id for c in second}
    assert len(first_ids) == 6 and len(second_ids) == 4
    assert first_ids | second_ids == ids


async def test_listing_filters_and_pages_without_personal_data(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    async with engine.begin() as conn:
        for i in range(5):
            await repository.record_notice(
                conn, notice_event(notice_id=f"cu-{i}", library="cuhk"), clock.now()
            )
        await repository.record_notice(
            conn,
            notice_event(
                notice_id="hk-0", library="hkpl", kind="fine", amount_minor=150, currency="HKD"
            ),
            clock.now(),
        )

    async with engine.connect() as conn:
        page1 = await repository.list_notices(conn, library="cuhk", limit=2)
        page2 = await repository.list_notices(
            conn, library="cuhk", limit=2, cursor=page1.next_cursor
        )
        page3 = await repository.list_notices(
            conn, library="cuhk", limit=2, cursor=page2.next_cursor
        )
        fines = await repository.list_notices(conn, kind="fine", status="pending")
        none_failed = await repository.list_failed(conn)
        huge = await repository.list_notices(conn, limit=10_000)
        hkpl_counts = await repository.count_by_status(conn, library="hkpl")
        one = await repository.get_notice(conn, "hk-0")
        missing = await repository.get_notice(conn, "nope")

    names = [n.notice_id for p in (page1, page2, page3) for n in p.items]
    assert names == ["cu-4", "cu-3", "cu-2", "cu-1", "cu-0"]  # newest first, no repeats
    assert page3.next_cursor is None
    assert [n.notice_id for n in fines.items] == ["hk-0"]
    assert none_failed.items == [] and none_failed.next_cursor is None
    assert len(huge.items) == 6  # the limit is clamped, not refused
    assert repository.page_size(10_000) == repository.MAX_PAGE_SIZE
    assert hkpl_counts["pending"] == 1 and sum(hkpl_counts.values()) == 1
    assert one is not None and one.has_address and one.payload["amount_minor"] == 150
    assert "email" not in one.payload and "patron_name" not in one.payload
    assert not hasattr(one, "email")
    assert missing is None


async def test_unknown_status_filter_is_refused(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(ValueError):
            await repository.list_notices(conn, status="lost")
