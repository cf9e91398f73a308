"""Searching the union catalogue, on SQLite and PostgreSQL (HKALL-04: find items under a scope
beyond the patron's own library)."""

from __future__ import annotations

import pytest

from services.catalog.adapters.repository import get_record, search
from services.catalog.domain.query import (
    MAX_DEPTH,
    MAX_PAGE_SIZE,
    Cursor,
    InvalidQuery,
    SearchQuery,
)

from .catalogue import EDUHK, KWNC, held, load


def titles(page):
    return [h.title for h in page.hits]


def facet(values):
    return {v.value: v.count for v in values}


@pytest.fixture
async def catalogue(conn):
    await load(conn)
    return conn


async def test_cjk_substring_finds_the_longer_title(catalogue):
    page = await search(catalogue, SearchQuery(text="香港"))
    assert "香港歷史" in titles(page) and "香港電影百年" in titles(page)
    assert "九龍城寨" in titles(page)  # by its subject 香港 -- 社會
    assert not page.estimated and page.total == 3
    assert titles(await search(catalogue, SearchQuery(text="港歷"))) == ["香港歷史"]
    assert titles(await search(catalogue, SearchQuery(text="文學"))) == ["澳門文學史"]


async def test_one_cjk_character(catalogue):
    assert set(titles(await search(catalogue, SearchQuery(text="澳")))) == {"澳門文學史"}
    assert "香港電影百年" in titles(await search(catalogue, SearchQuery(text="影")))


async def test_cjk_words_spaced_in_the_record_are_found_typed_together(conn):
    spaced = {"title": "澳門 歷史 讀本", "authors": ["陳 大文"], "holdings": held("um")}
    await load(conn, [spaced])
    for q in ("澳門歷史", "歷史讀本", "澳門 歷史", "陳大文", "史"):
        assert titles(await search(conn, SearchQuery(text=q))) == ["澳門 歷史 讀本"], q


async def test_cjk_text_that_is_not_there_finds_nothing(catalogue):
    page = await search(catalogue, SearchQuery(text="歷港"))
    assert page.total == 0 and page.hits == () and page.next_cursor is None


@pytest.mark.parametrize(
    "written",
    ["978-962-209-944-9", "9789622099449", "962-209-944-0", "9622099440", "ISBN 962 209 944 0"],
)
async def test_isbn_with_and_without_hyphens(catalogue, written):
    page = await search(catalogue, SearchQuery(text=written))
    assert titles(page) == ["Hong Kong: A History"]


async def test_issn(catalogue):
    assert titles(await search(catalogue, SearchQuery(text="0021-9118"))) == [
        "Journal of Asian Studies"
    ]


async def test_keywords_over_title_author_subject_any_case_and_accents(catalogue):
    assert titles(await search(catalogue, SearchQuery(text="TSANG"))) == ["Hong Kong: A History"]
    assert titles(await search(catalogue, SearchQuery(text="social conditions"))) == [
        "Gaming and society"
    ]
    assert titles(await search(catalogue, SearchQuery(text="Seábra"))) == ["Macau"]
    assert titles(await search(catalogue, SearchQuery(text="ＨＯＮＧ ｋｏｎｇ history"))) == [
        "Hong Kong: A History"
    ]


async def test_relevance_title_then_main_title_then_in_title_then_elsewhere(catalogue):
    await load(
        catalogue,
        [
            {"title": "Macau and its neighbours", "authors": ["Lo Kin"], "holdings": held("um")},
        ],
    )
    page = await search(catalogue, SearchQuery(text="macau"))
    assert titles(page) == [
        "Macau",  # the whole title
        "Macau: a cultural Janus",  # the main title
        "Macau and its neighbours",  # in the title
        "Gaming and society",  # only its subject says Macau
    ]


async def test_facets_count_libraries_material_types_and_languages(catalogue):
    page = await search(catalogue, SearchQuery(text="hong kong"))
    assert not page.estimated
    assert set(titles(page)) == {
        "Hong Kong: A History",
        "Teacher identity in Hong Kong secondary schools",
    }
    assert facet(page.facets.libraries) == {"hku": 1, "cuhk": 1, "eduhk": 1}
    assert facet(page.facets.material_types) == {"book": 1, "thesis": 1}
    assert facet(page.facets.languages) == {"eng": 2}
    everything = await search(catalogue, SearchQuery())
    assert everything.total == 12
    assert facet(everything.facets.languages) == {"eng": 8, "chi": 4}
    assert facet(everything.facets.libraries)["um"] == 5
    assert sum(v.count for v in everything.facets.material_types) == 12


async def test_filters(catalogue):
    assert titles(await search(catalogue, SearchQuery(material_types=("serial",)))) == [
        "Journal of Asian Studies"
    ]
    chinese = await search(catalogue, SearchQuery(text="香港", languages=("zh",)))
    assert chinese.total == 3
    media = await search(catalogue, SearchQuery(text="香港", material_types=("media",)))
    assert titles(media) == ["香港電影百年"]
    at_um = await search(catalogue, SearchQuery(libraries=("um",)))
    assert set(titles(at_um)) == {
        "九龍城寨",
        "澳門文學史",
        "Journal of Asian Studies",
        "Macau",
        "Gaming and society",
    }
    available_at_um = await search(catalogue, SearchQuery(libraries=("um",), available_now=True))
    assert "九龍城寨" not in titles(available_at_um) and available_at_um.total == 4
    anywhere_now = await search(catalogue, SearchQuery(text="opera", available_now=True))
    assert anywhere_now.total == 0  # on loan and in transit everywhere


async def test_scope_my_library_my_consortium_everything(catalogue):
    mine = await search(catalogue, SearchQuery(scope="library", patron=EDUHK))
    assert set(titles(mine)) == {"香港歷史", "Teacher identity in Hong Kong secondary schools"}
    assert facet(mine.facets.libraries) == {"eduhk": 2}
    mala = await search(catalogue, SearchQuery(text="香港", scope="consortium", patron=KWNC))
    assert titles(mala) == ["九龍城寨"]
    hkall = await search(catalogue, SearchQuery(text="香港", scope="consortium", patron=EDUHK))
    assert set(titles(hkall)) == {"香港歷史", "香港電影百年"}
    assert set(facet(hkall.facets.libraries)) == {"cityu", "hkbu", "eduhk", "polyu"}
    hkpl = await search(catalogue, SearchQuery(text="香港", scope="consortium", scope_code="HKPL"))
    assert titles(hkpl) == ["香港電影百年"]
    everything = await search(catalogue, SearchQuery(text="香港"))
    assert everything.total == 3


async def test_requestability_reasons_for_an_hkall_patron(catalogue):
    def decision(page, title):
        return next(h.requestability for h in page.hits if h.title == title)

    page = await search(catalogue, SearchQuery(patron=EDUHK, page_size=50))
    # HKALL-03: EduHK has 香港歷史 on its own shelf.
    d = decision(page, "香港歷史")
    assert not d.requestable and [r.rule for r in d.refusals] == ["HKALL-03"]
    # Available at HKU: requestable, HKU lends.
    d = decision(page, "Hong Kong: A History")
    assert d.requestable and d.lenders == ("hku",)
    # HKALL-01: a serial, media, a thesis cannot be requested.
    for title in ("Journal of Asian Studies", "香港電影百年"):
        assert [r.rule for r in decision(page, title).refusals] == ["HKALL-01"], title
    # HKALL-02: every copy at the other HKALL libraries is on loan or in transit.
    d = decision(page, "Cantonese opera")
    assert [r.rule for r in d.refusals] == ["HKALL-02"]
    assert "no copy is AVAILABLE" in d.refusals[0].reason


async def test_requestability_reasons_for_a_mala_patron(catalogue):
    page = await search(catalogue, SearchQuery(patron=KWNC, page_size=50))
    by_title = {h.title: h.requestability for h in page.hits}
    assert [r.rule for r in by_title["Oxford English Dictionary"].refusals] == ["MALA-03"]
    assert [r.rule for r in by_title["Journal of Asian Studies"].refusals] == ["MALA-03"]
    assert by_title["澳門文學史"].requestable and by_title["澳門文學史"].lenders == ("um",)
    assert not by_title["九龍城寨"].requestable  # on loan at UM, its only MALA copy


async def test_cursor_pages_cover_every_result_once(catalogue):
    seen, cursor, pages = [], None, 0
    while True:
        page = await search(catalogue, SearchQuery(page_size=5, cursor=cursor))
        seen.extend(h.id for h in page.hits)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 12


async def test_page_size_is_bounded(catalogue):
    with pytest.raises(InvalidQuery):
        await search(catalogue, SearchQuery(page_size=MAX_PAGE_SIZE + 1))


async def test_get_record_with_holdings_and_requestability(catalogue):
    page = await search(catalogue, SearchQuery(text="9622099440"))
    record = await get_record(catalogue, page.hits[0].id, patron=EDUHK)
    assert record.title == "Hong Kong: A History" and record.isbns == ("9789622099449",)
    assert [(h.library, h.status, h.consortium) for h in record.holdings] == [
        ("cuhk", "ON_LOAN", "HKALL"),
        ("hku", "AVAILABLE", "HKALL"),
    ]
    assert record.available_at == ("hku",)
    assert record.requestability.requestable
    assert await get_record(catalogue, 999_999) is None


async def test_pages_stop_at_the_depth_limit(catalogue):
    first = await search(catalogue, SearchQuery(page_size=5))
    c = Cursor.decode(first.next_cursor)
    deep = Cursor(c.tier, c.rank_key, c.record_id, MAX_DEPTH - 2).encode()
    page = await search(catalogue, SearchQuery(page_size=5, cursor=deep))
    assert len(page.hits) == 2 and page.next_cursor is None
