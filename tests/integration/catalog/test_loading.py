"""Bulk loading: one record per work, holdings merged, per-record reasons for rejections."""

from __future__ import annotations

from sqlalchemy import func, select

from libs.common.contracts.events import ItemChanged
from services.catalog.adapters.repository import apply_item_change, load_records, search
from services.catalog.adapters.tables import holdings, records
from services.catalog.domain.query import SearchQuery

from .catalogue import MEMBERS, load, parse


async def count(conn, table) -> int:
    return await conn.scalar(select(func.count()).select_from(table))


async def test_same_work_from_several_libraries_is_one_record(conn):
    report = await load(
        conn,
        [
            {
                "title": "A concise history of Hong Kong",
                "authors": ["Carroll, John M."],
                "isbn": "978-962-209-944-9",
                "year": 2007,
                "subjects": ["Hong Kong -- History"],
                "holdings": [{"library": "cityu", "item_id": "c1"}],
            },
            {
                "title": "A concise history of Hong Kong",
                "isbn": "9622099440",
                "subjects": ["Hong Kong -- Colonial period"],
                "holdings": [{"library": "cuhk", "item_id": "k1"}],
            },
            # No ISBN: found by title + first author + year.
            {
                "title": "Concise History of Hong Kong.",
                "authors": ["John M. Carroll"],
                "year": 2007,
                "holdings": [{"library": "um", "item_id": "u1"}],
            },
            {
                "title": "A concise history of Hong Kong",
                "authors": ["Carroll, John M."],
                "year": 2021,
                "holdings": [{"library": "hku", "item_id": "h1"}],
            },
        ],
    )
    assert (report.created, report.merged, report.holdings) == (2, 2, 4)
    page = await search(conn, SearchQuery(text="concise history"))
    assert page.total == 2
    first = next(h for h in page.hits if h.year == 2007)
    assert {h.library for h in first.holdings} == {"cityu", "cuhk", "um"}
    assert first.subjects == ("Hong Kong -- History", "Hong Kong -- Colonial period")


async def test_loading_twice_changes_nothing(conn):
    items = [
        {
            "title": "Macau",
            "authors": ["Seabra"],
            "year": 2016,
            "holdings": [{"library": "um", "item_id": "u1"}],
        }
    ]
    await load(conn, items)
    again = await load(conn, items)
    assert (again.created, again.merged) == (0, 1)
    assert await count(conn, records) == 1 and await count(conn, holdings) == 1


async def test_unknown_library_is_rejected_with_its_reason(conn):
    recs = parse(
        [
            {"id": "ok", "title": "Fine", "holdings": [{"library": "hku", "item_id": "1"}]},
            {
                "id": "nowhere",
                "title": "Lost",
                "holdings": [{"library": "atlantis", "item_id": "1"}],
            },
        ]
    )
    report = await load_records(conn, recs, members=MEMBERS)
    assert report.created == 1
    assert [(r.index, r.source_id, r.reason) for r in report.rejected] == [
        (1, "nowhere", "unknown library 'atlantis'")
    ]


async def test_a_bulk_load_does_not_undo_a_newer_circulation_event(conn):
    item = {"library": "cityu", "item_id": "c9"}
    await load(
        conn, [{"title": "Cantonese opera", "authors": ["Yung"], "year": 2008, "holdings": [item]}]
    )
    await apply_item_change(
        conn,
        ItemChanged(
            library="cityu",
            item_id="c9",
            version=5,
            change="status_changed",
            status="ON_LOAN",
            material_type="book",
            title="Cantonese opera",
        ),
        members=MEMBERS,
    )
    await load(
        conn, [{"title": "Cantonese opera", "authors": ["Yung"], "year": 2008, "holdings": [item]}]
    )
    status = await conn.scalar(select(holdings.c.status).where(holdings.c.item_id == "c9"))
    assert status == "ON_LOAN"


async def test_an_item_recatalogued_moves_to_its_new_record(conn):
    await load(
        conn,
        [{"title": "First title", "year": 2000, "holdings": [{"library": "hku", "item_id": "h1"}]}],
    )
    await load(
        conn,
        [
            {
                "title": "Second title",
                "year": 2001,
                "holdings": [{"library": "hku", "item_id": "h1"}],
            }
        ],
    )
    assert (await search(conn, SearchQuery(text="first"))).total == 0  # held by nobody now
    assert (await search(conn, SearchQuery(text="second"))).total == 1
