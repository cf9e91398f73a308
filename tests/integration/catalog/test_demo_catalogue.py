"""The demo catalogue: seeded once, and big enough that broad searches are counted from the
sample and walked in rank order rather than counted one by one."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from libs.common.db import make_engine
from services.catalog.adapters import search as search_module
from services.catalog.adapters.repository import search
from services.catalog.adapters.tables import record_search, records
from services.catalog.domain.query import SearchQuery
from services.catalog.seed import DEMO_RECORDS, demo_records, seed_demo

from .catalogue import EDUHK


@pytest.fixture(scope="module")
def seeded(database_url):
    """The demo catalogue, committed once for the whole module."""

    async def seed():
        engine = make_engine(database_url)
        try:
            async with engine.begin() as conn:
                first = await seed_demo(conn)
            async with engine.begin() as conn:
                second = await seed_demo(conn)
        finally:
            await engine.dispose()
        return first, second

    return asyncio.run(seed())


def test_demo_catalogue_is_seeded_once(seeded):
    first, second = seeded
    assert second is None
    assert first.created + first.merged == DEMO_RECORDS and first.rejected == []
    assert first.holdings > 2.5 * DEMO_RECORDS


def test_demo_catalogue_has_every_material_type_and_both_languages():
    recs = demo_records()
    assert len(recs) == DEMO_RECORDS
    assert set(Counter(r.material_type for r in recs)) == {
        "book",
        "book_with_disc",
        "serial",
        "periodical_back_issue",
        "media",
        "thesis",
        "reference",
    }
    languages = Counter(r.language for r in recs)
    assert languages["eng"] > 1000 and languages["chi"] > 800
    assert any("香港" in r.title for r in recs) and any("澳門" in r.title for r in recs)
    statuses = Counter(h.status for r in recs for h in r.holdings)
    assert statuses["AVAILABLE"] / sum(statuses.values()) > 0.7
    assert demo_records(50) == recs[:50]  # deterministic


async def test_broad_search_is_estimated_from_the_sample(seeded, conn, monkeypatch):
    held = await conn.scalar(
        select(func.count()).select_from(record_search).where(record_search.c.libs != 0)
    )
    # The demo catalogue is smaller than the benchmark's: count one by one only below 2000.
    monkeypatch.setattr(search_module, "EXACT_LIMIT", 2000)
    assert held > search_module.EXACT_LIMIT
    page = await search(conn, SearchQuery(patron=EDUHK))
    assert page.estimated
    assert abs(page.total - held) / held < 0.15
    languages = {v.value: v.count for v in page.facets.languages}
    assert abs(sum(languages.values()) - page.total) <= page.total * 0.01
    assert len(page.hits) == 20 and all(h.requestability is not None for h in page.hits)


async def test_counts_are_exact_below_the_limit(seeded, conn):
    page = await search(conn, SearchQuery(text="香港"))
    assert not page.estimated
    expected = 0
    for title, subjects, authors in await conn.execute(
        select(records.c.title, records.c.subjects, records.c.authors)
    ):
        if any("香港" in t for t in (title, *subjects, *authors)):
            expected += 1
    assert page.total == expected > 0


async def test_broad_pages_follow_in_order_without_repeats(seeded, conn):
    seen, cursor = [], None
    for _ in range(4):
        page = await search(conn, SearchQuery(text="history", page_size=25, cursor=cursor))
        seen.extend(page.hits)
        cursor = page.next_cursor
    assert len(seen) == 100 and len({h.id for h in seen}) == 100
    # Titles with the word come before records found by their subjects only.
    in_title = ["history" in h.title.lower() for h in seen]
    assert in_title == sorted(in_title, reverse=True)


@pytest.mark.parametrize("text", ["history", "香港", "macau teacher", "", "文學"])
async def test_sampled_and_walked_search_orders_as_the_exact_one(seeded, conn, monkeypatch, text):
    """The same results in the same order whether a search counts every match and sorts them,
    or estimates from the sample and walks the rank index."""

    async def pages(n):
        ids, cursor = [], None
        for _ in range(n):
            page = await search(conn, SearchQuery(text=text, page_size=10, cursor=cursor))
            ids.extend(h.id for h in page.hits)
            cursor = page.next_cursor
            if cursor is None:
                break
        return ids, page.estimated

    exact, exact_estimated = await pages(3)
    monkeypatch.setattr(search_module, "EXACT_LIMIT", 5)
    monkeypatch.setattr(search_module, "MIN_SAMPLE", 5)
    monkeypatch.setattr(search_module, "walk_threshold", lambda need, size: 0)
    walked, walked_estimated = await pages(3)
    assert walked == exact and len(exact) > 0
    assert walked_estimated or len(exact) <= 5
    assert text != "history" or not exact_estimated


@pytest.mark.parametrize("text", ["history", "香港", "macau teacher", "", "文學"])
async def test_search_read_by_rank_slices_orders_as_the_exact_one(seeded, conn, monkeypatch, text):
    """The same results in the same order whether a search sorts every match or reads the
    best-ranked ones a few rank slices at a time (the rk_ tokens; PostgreSQL)."""

    async def pages(n):
        ids, cursor = [], None
        for _ in range(n):
            page = await search(conn, SearchQuery(text=text, page_size=10, cursor=cursor))
            ids.extend(h.id for h in page.hits)
            cursor = page.next_cursor
            if cursor is None:
                break
        return ids

    exact = await pages(3)
    monkeypatch.setattr(search_module, "EXACT_LIMIT", 5)
    monkeypatch.setattr(search_module, "MIN_SAMPLE", 5)
    monkeypatch.setattr(search_module, "FETCH_WHOLE", 0)
    # Slices chosen from a sample of a few hits, read in groups as small as one slice.
    monkeypatch.setattr(search_module, "MAX_SLICES", 1)
    sliced = await pages(3)
    assert sliced == exact and len(exact) > 0
