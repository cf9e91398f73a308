"""Turning a patron's search into the token query, and cursors."""

import pytest

from services.catalog.domain.query import (
    All,
    AnyOf,
    Cursor,
    InvalidQuery,
    Patron,
    SearchQuery,
    Term,
    Without,
    plan,
    render_fts5,
    render_tsquery,
)


def tokens(node):
    if isinstance(node, Term):
        return {node.token}
    if isinstance(node, Without):
        return tokens(node.include) | tokens(node.exclude)
    return set().union(*(tokens(i) for i in node.items))


@pytest.mark.parametrize(
    "written", ["978-962-209-944-9", "9789622099449", "962-209-944-0", "ISBN 9622099440"]
)
def test_isbn_with_or_without_hyphens_is_one_token(written):
    p = plan(SearchQuery(text=written))
    assert p.match == Term("isbn_9789622099449")
    assert p.tiers == ()


def test_keywords_and_title_tier():
    p = plan(SearchQuery(text="Hong Kong history"))
    assert tokens(p.match) == {"hong", "kong", "history"}
    whole, main, title = p.tiers
    assert whole.token.startswith("x_") and main.token.startswith("xm_")
    assert whole.token[2:] == main.token[3:]
    assert tokens(title) == {"t_hong", "t_kong", "t_history"}


def test_cjk_query_tokens():
    assert tokens(plan(SearchQuery(text="香港歷史")).match) == {"香港", "港歷", "歷史"}


def test_scope_and_filters():
    patron = Patron("eduhk", "HKALL")
    p = plan(SearchQuery(scope="library", patron=patron))
    assert p.match == Term("lib_eduhk") and p.facet_libraries == ("eduhk",)
    p = plan(
        SearchQuery(scope="consortium", available_now=True, patron=patron),
        {"HKALL": ["cityu", "eduhk"]},
    )
    assert p.match == Term("avc_hkall") and p.facet_libraries == ("cityu", "eduhk")
    p = plan(
        SearchQuery(
            text="x",
            material_types=("book", "book_with_disc"),
            languages=("en", "chi"),
            libraries=("um",),
            available_now=True,
        )
    )
    assert p.match == All(
        (
            Term("x"),
            Term("av_um"),
            AnyOf((Term("mt_book"), Term("mt_book_with_disc"))),
            AnyOf((Term("lang_eng"), Term("lang_chi"))),
        )
    )


def test_everything_scope_without_filters_matches_any_record():
    assert plan(SearchQuery()).match is None
    assert plan(SearchQuery(available_now=True)).match == Term("av_")


def test_invalid_queries():
    with pytest.raises(InvalidQuery):
        SearchQuery(page_size=101)
    with pytest.raises(InvalidQuery):
        SearchQuery(material_types=("scroll",))
    with pytest.raises(InvalidQuery):
        plan(SearchQuery(scope="library"))
    with pytest.raises(InvalidQuery):
        plan(SearchQuery(languages=("klingon",)))
    with pytest.raises(InvalidQuery):
        Cursor.decode("not a cursor")


def test_renderers():
    node = Without(All((Term("香港"), AnyOf((Term("mt_book"), Term("mt_serial"))))), Term("x_1"))
    assert render_tsquery(node) == "('香港' & ('mt_book' | 'mt_serial')) & !'x_1'"
    assert render_fts5(node) == '("香港" AND ("mt_book" OR "mt_serial")) NOT "x_1"'


def test_cursor_round_trip():
    c = Cursor(tier=1, rank_key=123 << 32, record_id=42, served=20)
    assert Cursor.decode(c.encode()) == c


@pytest.mark.parametrize(
    "raw",
    [
        f"0.{2**63}.1.0",  # rank past a 64-bit column
        f"0.1.{2**64}.0",
        "0.1.-1.0",
        "0.1.1.5000",  # deeper than MAX_DEPTH
        "9.1.1.0",
    ],
)
def test_a_forged_cursor_is_refused_not_sent_to_the_database(raw):
    import base64

    forged = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(InvalidQuery):
        Cursor.decode(forged)
