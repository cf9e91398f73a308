"""A federation of more libraries than the 63 bits of ``record_search.libs``: every member's
holdings are found, filtered by library and by consortium, in scope, counted in the library
facet, on SQLite and PostgreSQL; loaded record by record, in bulk by COPY, or item by item."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.contracts.events import ItemChanged
from libs.common.db import drop_database, make_engine
from services.catalog.adapters.bulk_copy import copy_load
from services.catalog.adapters.repository import apply_item_change, get_record, load_records
from services.catalog.adapters.repository import search as run_search
from services.catalog.domain.query import Patron, SearchQuery
from services.catalog.seed import LibraryInfo, synthetic_records

from .catalogue import parse
from .conftest import new_database

#: 70 members: the first 60 in HKALL, the last ten (numbered 60-69) in MALA
MEMBERS = {f"l{n:03d}": "HKALL" if n < 60 else "MALA" for n in range(70)}
SEVENTIETH = "l069"


def titles(page):
    return [h.title for h in page.hits]


def facet(values):
    return {v.value: v.count for v in values}


def item(library: str, name: str) -> dict:
    return {"library": library, "item_id": f"{library}-{name}", "status": "AVAILABLE"}


RECORDS = [
    {
        "title": "Lotus and lighthouse",
        "authors": ["Ho Sin Yi"],
        "year": 2018,
        "holdings": [item(SEVENTIETH, "lotus")],
    },
    {
        "title": "Lighthouse keepers",
        "authors": ["Lam Chi Wing"],
        "year": 2001,
        "holdings": [item("l001", "keepers")],
    },
    {
        "title": "Lighthouse on every shore",
        "authors": ["Chan Mei"],
        "year": 2010,
        "holdings": [item(code, "shores") for code in MEMBERS],
    },
]


async def search(conn, **kw):
    return await run_search(conn, SearchQuery(**kw))


@pytest.fixture
async def catalogue(conn):
    await load_records(conn, parse(RECORDS), members=MEMBERS)
    return conn


async def test_the_70th_librarys_books_are_found_and_filtered_to_it(catalogue):
    assert set(titles(await search(catalogue, text="lighthouse"))) == {
        "Lotus and lighthouse",
        "Lighthouse keepers",
        "Lighthouse on every shore",
    }
    for kw in (
        {"libraries": (SEVENTIETH,)},
        {"libraries": (SEVENTIETH,), "available_now": True},
        {"scope": "library", "scope_code": SEVENTIETH},
    ):
        page = await search(catalogue, text="lotus", **kw)
        assert titles(page) == ["Lotus and lighthouse"], kw
    page = await search(catalogue, libraries=(SEVENTIETH,))
    assert set(titles(page)) == {"Lotus and lighthouse", "Lighthouse on every shore"}
    assert facet(page.facets.libraries)[SEVENTIETH] == 2


async def test_the_70th_librarys_books_are_found_in_its_consortium(catalogue):
    patron = Patron("l060", "MALA")  # a patron of another MALA member may request it
    page = await search(catalogue, text="lotus", scope="consortium", patron=patron)
    assert titles(page) == ["Lotus and lighthouse"]
    [hit] = page.hits
    assert [(h.library, h.consortium) for h in hit.holdings] == [(SEVENTIETH, "MALA")]
    assert hit.requestability is not None and hit.requestability.requestable
    page = await search(catalogue, scope="consortium", scope_code="MALA", available_now=True)
    assert set(titles(page)) == {"Lotus and lighthouse", "Lighthouse on every shore"}
    # The facet of a consortium's search counts its members only, those numbered beyond the
    # 64-bit column among them.
    assert facet(page.facets.libraries) == {
        **{f"l{n:03d}": 1 for n in range(60, 69)},
        SEVENTIETH: 2,
    }
    hkall = await search(catalogue, text="lotus", scope="consortium", scope_code="HKALL")
    assert titles(hkall) == []


async def test_the_library_facet_counts_every_holder(catalogue):
    page = await search(catalogue, text="lighthouse")
    assert facet(page.facets.libraries) == {
        **{code: 1 for code in MEMBERS},
        "l001": 2,
        SEVENTIETH: 2,
    }
    # Held by 70 libraries: ranked before the records held by one.
    assert titles(page)[0] == "Lighthouse on every shore"


async def test_an_item_change_at_the_70th_library_is_mirrored(catalogue):
    async def change(version: int, kind: str, status: str) -> None:
        await apply_item_change(
            catalogue,
            ItemChanged(
                library=SEVENTIETH,
                item_id=f"{SEVENTIETH}-lotus",
                version=version,
                change=kind,
                status=status,
                material_type="book",
                title="Lotus and lighthouse",
                authors=["Ho Sin Yi"],
                year=2018,
            ),
            members=MEMBERS,
        )

    await change(1, "status_changed", "ON_LOAN")
    assert titles(await search(catalogue, text="lotus", libraries=(SEVENTIETH,))) == [
        "Lotus and lighthouse"
    ]
    assert titles(await search(catalogue, text="lotus", available_now=True)) == []
    await change(2, "withdrawn", "WITHDRAWN")
    # Its only copy withdrawn: no longer held by anyone, so not found.
    assert titles(await search(catalogue, text="lotus")) == []


async def test_a_library_met_first_in_an_item_change_beyond_the_63rd(conn):
    await load_records(conn, parse(RECORDS[1:2]), members=dict(list(MEMBERS.items())[:63]))
    await apply_item_change(
        conn,
        ItemChanged(
            library=SEVENTIETH,
            item_id="l069-new",
            version=1,
            change="added",
            status="AVAILABLE",
            material_type="book",
            title="Harbour lights",
            authors=["Wong Siu Ming"],
        ),
        members=MEMBERS,
    )
    page = await search(conn, text="harbour", scope="consortium", scope_code="MALA")
    assert titles(page) == ["Harbour lights"]
    assert facet(page.facets.libraries) == {SEVENTIETH: 1}
    record = await get_record(conn, page.hits[0].id)
    assert record is not None and [h.consortium for h in record.holdings] == ["MALA"]


@pytest.fixture(scope="module")
def copied(tmp_path_factory):
    """A PostgreSQL catalogue of 600 records held all over the 70 libraries, COPY-loaded."""
    url = new_database("postgresql", tmp_path_factory)
    libraries = [LibraryInfo(code, c, ("main",)) for code, c in MEMBERS.items()]

    async def fill() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await copy_load(conn, synthetic_records(600, seed=7, libraries=libraries), MEMBERS)
        finally:
            await engine.dispose()

    asyncio.run(fill())
    yield url
    asyncio.run(drop_database(url))


@pytest.mark.pg
async def test_copy_loading_a_catalogue_of_70_libraries(copied):
    engine = make_engine(copied)
    try:
        async with engine.connect() as conn:
            page = await search(conn, libraries=(SEVENTIETH,), page_size=100)
            assert page.total > 0 and not page.estimated
            assert facet(page.facets.libraries)[SEVENTIETH] == page.total
            for hit in page.hits:
                assert SEVENTIETH in {h.library for h in hit.holdings}
            mala = await search(conn, scope="consortium", scope_code="MALA", page_size=100)
            in_mala = {c for c, k in MEMBERS.items() if k == "MALA"}
            assert set(facet(mala.facets.libraries)) <= in_mala
            assert facet(mala.facets.libraries)[SEVENTIETH] == page.total
    finally:
        await engine.dispose()
