"""Circulation events keep the holdings mirror current: idempotent and in order per item."""

from __future__ import annotations

from sqlalchemy import func, select

from libs.common.contracts.events import ItemChanged
from services.catalog.adapters.repository import apply_item_change, search
from services.catalog.adapters.tables import holdings, records
from services.catalog.domain.query import SearchQuery

from .catalogue import EDUHK, MEMBERS


def event(version: int, change: str = "added", status: str = "AVAILABLE", **kw) -> ItemChanged:
    data = dict(
        library="cityu",
        item_id="cityu-777",
        version=version,
        change=change,
        status=status,
        material_type="book",
        service_point="main",
        call_number="DS796.H7 L58 2019",
        barcode="CU777",
        title="香港歷史",
        authors=["劉智鵬"],
        isbn="978-962-209-944-9",
        language="zh-Hant",
        publisher="中華書局",
        year=2019,
    )
    data.update(kw)
    return ItemChanged(**data)


async def mirror(conn, change: ItemChanged) -> bool:
    """The change, as the catalogue of the demo federation applies it."""
    return await apply_item_change(conn, change, members=MEMBERS)


async def holding(conn, library="cityu", item_id="cityu-777"):
    return (
        await conn.execute(
            select(holdings).where(holdings.c.library == library, holdings.c.item_id == item_id)
        )
    ).first()


async def count(conn, table) -> int:
    return await conn.scalar(select(func.count()).select_from(table))


async def test_added_item_creates_the_record_and_is_found(conn):
    assert await mirror(conn, event(1))
    h = await holding(conn)
    assert (h.status, h.version, h.call_number) == ("AVAILABLE", 1, "DS796.H7 L58 2019")
    page = await search(conn, SearchQuery(text="香港", libraries=("cityu",), available_now=True))
    assert [x.title for x in page.hits] == ["香港歷史"]
    assert page.hits[0].language == "chi" and page.hits[0].isbns == ("9789622099449",)


async def test_the_same_event_twice_changes_once(conn):
    assert await mirror(conn, event(1)) is True
    before = await holding(conn)
    assert await mirror(conn, event(1)) is False
    assert await holding(conn) == before
    assert await count(conn, records) == 1 and await count(conn, holdings) == 1


async def test_an_older_event_after_a_newer_one_is_ignored(conn):
    await mirror(conn, event(1))
    assert await mirror(conn, event(3, "status_changed", "ON_LOAN"))
    assert await mirror(conn, event(2, "status_changed", "AVAILABLE")) is False
    assert (await holding(conn)).status == "ON_LOAN"
    assert (await holding(conn)).version == 3
    page = await search(conn, SearchQuery(text="香港", available_now=True))
    assert page.total == 0


async def test_status_changes_move_availability_and_requestability(conn):
    await mirror(conn, event(1, library="hku", item_id="hku-1"))
    page = await search(conn, SearchQuery(text="香港", patron=EDUHK))
    assert page.hits[0].requestability.requestable
    await mirror(conn, event(2, "status_changed", "ON_LOAN", library="hku", item_id="hku-1"))
    page = await search(conn, SearchQuery(text="香港", patron=EDUHK))
    assert [r.rule for r in page.hits[0].requestability.refusals] == ["HKALL-02"]


async def test_availability_follows_every_status_change_of_a_copy(conn):
    async def available_at_hku() -> bool:
        q = SearchQuery(text="香港", libraries=("hku",), available_now=True)
        return (await search(conn, q)).total == 1

    async def held_by_hku() -> bool:
        return (await search(conn, SearchQuery(text="香港", libraries=("hku",)))).total == 1

    await mirror(conn, event(1, library="hku", item_id="hku-2"))
    assert await available_at_hku()
    # Lent, then in transit, then on the hold shelf: held all along, available at no point
    # (the two later changes leave the search document as it was)...
    steps = [("ON_LOAN", False), ("IN_TRANSIT", False), ("ON_HOLD_SHELF", False)]
    # ...back on the shelf, missing, found, withdrawn.
    steps += [("AVAILABLE", True), ("MISSING", False), ("AVAILABLE", True)]
    for version, (status, available) in enumerate(steps, start=2):
        change = event(version, "status_changed", status, library="hku", item_id="hku-2")
        assert await mirror(conn, change)
        assert await available_at_hku() is available, status
        assert await held_by_hku()
    withdrawn = event(len(steps) + 2, "withdrawn", "WITHDRAWN", library="hku", item_id="hku-2")
    assert await mirror(conn, withdrawn)
    assert not await held_by_hku()


async def test_withdrawn_item_is_kept_as_withdrawn_and_leaves_the_scope(conn):
    await mirror(conn, event(1))
    assert await mirror(conn, event(2, "withdrawn", "WITHDRAWN"))
    assert (await holding(conn)).status == "WITHDRAWN"
    assert (
        await search(conn, SearchQuery(text="香港", scope="library", scope_code="cityu"))
    ).total == 0
    assert (await search(conn, SearchQuery(text="香港"))).total == 0  # nobody holds it now
    # A late "added" cannot bring it back.
    assert await mirror(conn, event(1)) is False


async def test_items_of_the_same_work_share_one_record(conn):
    await mirror(conn, event(1))
    await mirror(conn, event(1, library="um", item_id="um-1", isbn="9622099440"))
    await mirror(conn, event(1, library="hkbu", item_id="hkbu-1", isbn=None))
    assert await count(conn, records) == 1
    page = await search(conn, SearchQuery(text="香港"))
    assert {h.library for h in page.hits[0].holdings} == {"cityu", "um", "hkbu"}


async def test_an_owner_s_odd_data_does_not_stop_the_status(conn):
    # An ISBN with a wrong check digit and a language code the catalogue does not know.
    assert await mirror(conn, event(1, isbn="9789620000000", language="xx-yy"))
    assert (await search(conn, SearchQuery(text="香港歷史"))).total == 1


async def test_what_postgresql_cannot_store_does_not_stop_the_status(conn):
    # A year past SMALLINT, NUL characters, a call number longer than the column.
    odd = event(
        1,
        year=99999,
        title="香港\x00歷史",
        authors=["劉\x00智鵬"],
        publisher="\x00",
        call_number="DS" * 80,
        service_point="main\x00",
    )
    assert await mirror(conn, odd)
    h = await holding(conn)
    assert (h.status, h.service_point, len(h.call_number)) == ("AVAILABLE", "main", 100)
    rec = (await search(conn, SearchQuery(text="香港歷史"))).hits[0]
    assert (rec.title, rec.year, rec.authors, rec.publisher) == (
        "香港歷史",
        None,
        ("劉智鵬",),
        None,
    )


async def test_item_with_nothing_to_catalogue_is_mirrored_without_a_record(conn):
    assert await mirror(
        conn, event(1, "status_changed", "ON_LOAN", title=None, authors=[], isbn=None)
    )
    h = await holding(conn)
    assert h.record_id is None and h.status == "ON_LOAN"
    assert await mirror(conn, event(2, "status_changed", "AVAILABLE"))
    assert (await holding(conn)).record_id is not None


async def test_an_item_recatalogued_as_another_work_moves_to_that_record(conn):
    await mirror(conn, event(1))
    old = (await holding(conn)).record_id
    # The owner corrects the item's ISBN and title: it is now another book.
    moved = event(
        2,
        "status_changed",
        title="Macau e Portugal",
        authors=["Saldanha, António"],
        isbn="978-988-123-456-8",
        language="por",
        year=1997,
    )
    assert await mirror(conn, moved)
    h = await holding(conn)
    assert h.record_id != old and h.version == 2
    assert (await search(conn, SearchQuery(text="香港歷史"))).total == 0  # nobody holds it now
    page = await search(conn, SearchQuery(text="9789881234568", libraries=("cityu",)))
    assert [x.title for x in page.hits] == ["Macau e Portugal"]
    # An older event describing the first work changes nothing.
    assert await mirror(conn, event(1)) is False
    assert (await holding(conn)).record_id == h.record_id


async def test_an_item_moves_to_a_work_already_catalogued(conn):
    await mirror(conn, event(1))
    await mirror(
        conn,
        event(
            1,
            library="hku",
            item_id="hku-9",
            title="Macau",
            authors=["Leonor Seabra"],
            isbn="978-988-123-456-8",
            year=2016,
        ),
    )
    target = (await holding(conn, "hku", "hku-9")).record_id
    await mirror(
        conn, event(2, title="Macau", authors=["Leonor Seabra"], isbn="9789881234568", year=2016)
    )
    assert (await holding(conn)).record_id == target
    page = await search(conn, SearchQuery(text="macau"))
    assert {h.library for h in page.hits[0].holdings} == {"cityu", "hku"}


async def test_a_title_only_item_renamed_by_its_owner_moves(conn):
    await mirror(conn, event(1, authors=[], isbn=None, year=None))
    old = (await holding(conn)).record_id
    same = event(2, "status_changed", "ON_LOAN", authors=[], isbn=None, year=None)
    assert await mirror(conn, same)
    assert (await holding(conn)).record_id == old  # the same title: it stays
    renamed = event(3, authors=[], isbn=None, year=None, title="九龍城寨")
    assert await mirror(conn, renamed)
    assert (await holding(conn)).record_id != old
    assert [x.title for x in (await search(conn, SearchQuery(text="九龍"))).hits] == ["九龍城寨"]


async def test_the_same_work_described_again_keeps_the_record(conn):
    await mirror(conn, event(1))
    old = (await holding(conn)).record_id
    # The ISBN-10 form, a title written otherwise: the same work.
    again = event(2, "status_changed", "ON_LOAN", isbn="962-209-944-0", title="香港 歷史")
    assert await mirror(conn, again)
    assert (await holding(conn)).record_id == old
    assert await count(conn, records) == 1
