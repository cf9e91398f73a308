"""Two writers bringing the same new work at once still make one record of it."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from libs.common.contracts.events import ItemChanged
from services.catalog.adapters.repository import apply_item_change, load_records
from services.catalog.adapters.tables import holdings, records

from .catalogue import MEMBERS, parse


def _work(isbn: str, library: str, item_id: str) -> dict:
    return {
        "title": "Hakka villages of the New Territories",
        "authors": ["Lee, Ka Yan"],
        "isbn": isbn,
        "year": 2018,
        "holdings": [{"library": library, "item_id": item_id}],
    }


async def _records_of(engine, library_items: list[tuple[str, str]]) -> set[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(holdings.c.record_id).where(
                holdings.c.item_id.in_([item for _, item in library_items])
            )
        )
        return {r for (r,) in rows}


async def test_two_libraries_loading_the_same_new_work_at_once_make_one_record(engine):
    async def load(library: str, item_id: str) -> None:
        async with engine.begin() as conn:
            await load_records(
                conn, parse([_work("9789888208104", library, item_id)]), members=MEMBERS
            )

    await asyncio.gather(
        *(load(lib, f"{lib}-hakka-{n}") for n, lib in enumerate(["cityu", "cuhk", "hku", "polyu"]))
    )
    found = await _records_of(
        engine,
        [(lib, f"{lib}-hakka-{n}") for n, lib in enumerate(["cityu", "cuhk", "hku", "polyu"])],
    )
    assert len(found) == 1 and None not in found
    async with engine.connect() as conn:
        assert (
            await conn.scalar(
                select(func.count())
                .select_from(records)
                .where(records.c.title == "Hakka villages of the New Territories")
            )
            == 1
        )


async def test_a_bulk_load_beside_an_item_change_of_the_same_new_work_makes_one_record(engine):
    isbn = "9789888208111"

    async def bulk() -> None:
        async with engine.begin() as conn:
            await load_records(conn, parse([_work(isbn, "hkbu", "hkbu-walled-1")]), members=MEMBERS)

    async def event() -> None:
        async with engine.begin() as conn:
            await apply_item_change(
                conn,
                ItemChanged(
                    library="lingu",
                    item_id="lingu-walled-1",
                    version=1,
                    change="added",
                    status="AVAILABLE",
                    title="Walled villages of Hong Kong",
                    authors=["Lee, Ka Yan"],
                    isbn=isbn,
                    material_type="book",
                ),
                members=MEMBERS,
            )

    await asyncio.gather(bulk(), event())
    found = await _records_of(engine, [("hkbu", "hkbu-walled-1"), ("lingu", "lingu-walled-1")])
    assert len(found) == 1 and None not in found
