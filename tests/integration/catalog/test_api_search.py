"""``GET /api/v1/search`` and ``GET /api/v1/records/{id}`` over HTTP, on SQLite and PostgreSQL:
CJK substrings, ISBNs, facets, scope (HKALL-04), requestability with the rule that refuses
(HKALL-01/02/03, MALA-03), cursor pages, and problem+json for what cannot be searched."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.db import make_engine

from .catalogue import load
from .http import assert_problem, auth, catalogue_client


async def _load_catalogue(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await load(conn)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def catalogue_url(database_url):
    """The test catalogue of ``catalogue.py``, committed once for the module's searches."""
    asyncio.run(_load_catalogue(database_url))
    return database_url


@pytest.fixture
async def api(catalogue_url):
    async with catalogue_client(catalogue_url) as client:
        yield client


def titles(doc: dict) -> list[str]:
    return [r["title"] for r in doc["results"]]


def facet(doc: dict, name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in doc["facets"][name]}


def by_title(doc: dict) -> dict[str, dict]:
    return {r["title"]: r for r in doc["results"]}


def rules(record: dict) -> list[str]:
    return [r["rule"] for r in record["requestability"]["refusals"]]


async def search(api, **params) -> dict:
    res = await api.get("/api/v1/search", params=params)
    assert res.status_code == 200, res.text
    return res.json()


async def test_cjk_substring_finds_the_longer_title(api):
    doc = await search(api, q="香港")
    assert {"香港歷史", "香港電影百年", "九龍城寨"} == set(titles(doc))
    assert doc["total"] == 3 and not doc["estimated"]
    assert titles(await search(api, q="港歷")) == ["香港歷史"]


@pytest.mark.parametrize("written", ["978-962-209-944-9", "9789622099449", "962-209-944-0"])
async def test_isbn_with_and_without_hyphens(api, written):
    assert titles(await search(api, q=written)) == ["Hong Kong: A History"]


@pytest.mark.parametrize(
    "written",
    # Full-width, as a Chinese input method types digits and hyphens.
    [
        "\uff19\uff17\uff18\uff19\uff16\uff12\uff12\uff10\uff19\uff19\uff14\uff14\uff19",
        "\uff19\uff16\uff12\uff0d\uff12\uff10\uff19\uff0d\uff19\uff14\uff14\uff0d\uff10",
    ],
)
async def test_isbn_in_full_width_digits(api, written):
    assert titles(await search(api, q=written)) == ["Hong Kong: A History"]


@pytest.mark.parametrize("written", ["0021-9118", "00219118", "ISSN 0021-9118"])
async def test_issn_with_and_without_its_hyphen(api, written):
    assert titles(await search(api, q=written)) == ["Journal of Asian Studies"]


async def test_facets_with_counts(api):
    doc = await search(api, q="hong kong")
    assert facet(doc, "library") == {"hku": 1, "cuhk": 1, "eduhk": 1}
    assert facet(doc, "material_type") == {"book": 1, "thesis": 1}
    assert facet(doc, "language") == {"eng": 2}


async def test_filters_material_type_language_library_available_now(api):
    assert titles(await search(api, q="香港", material_type="media")) == ["香港電影百年"]
    assert (await search(api, q="香港", language="chi"))["total"] == 3
    at_um = await search(api, library="um", available_now="true")
    assert at_um["total"] == 4 and "九龍城寨" not in titles(at_um)
    assert (await search(api, q="opera", available_now="true"))["total"] == 0


async def test_HKALL_04_scope_library_consortium_everything(api):
    mine = await api.get(
        "/api/v1/search", params={"scope": "library"}, headers=auth(api, "patron", "eduhk")
    )
    assert mine.status_code == 200, mine.text
    assert set(titles(mine.json())) == {
        "香港歷史",
        "Teacher identity in Hong Kong secondary schools",
    }
    assert mine.json()["home_library"] == "eduhk"
    mala = await search(api, q="香港", scope="consortium", home_library="kwnc")
    assert titles(mala) == ["九龍城寨"]
    hkall = await search(api, q="香港", scope="consortium", home_library="eduhk")
    assert set(titles(hkall)) == {"香港歷史", "香港電影百年"}
    assert (await search(api, q="香港", scope="all"))["total"] == 3


@pytest.mark.parametrize("scope", ["library", "consortium"])
async def test_scope_beyond_all_needs_a_home_library(api, scope):
    res = await api.get("/api/v1/search", params={"q": "香港", "scope": scope})
    doc = assert_problem(res, 422, "home-library-required")
    assert "home_library" in doc["detail"]


async def test_HKALL_01_02_03_refusals_name_their_rule_for_a_patron(api):
    res = await api.get(
        "/api/v1/search", params={"page_size": 50}, headers=auth(api, "patron", "eduhk")
    )
    assert res.status_code == 200, res.text
    found = by_title(res.json())
    # HKALL-03: EdUHK has 香港歷史 on its own shelf.
    home = found["香港歷史"]["requestability"]
    assert not home["requestable"] and rules(found["香港歷史"]) == ["HKALL-03"]
    assert "your own library has a copy" in home["refusals"][0]["reason"]
    # HKALL-01: a serial and media are not books.
    for title in ("Journal of Asian Studies", "香港電影百年"):
        assert rules(found[title]) == ["HKALL-01"], title
        assert "only books" in found[title]["requestability"]["refusals"][0]["reason"]
    # HKALL-02: no copy AVAILABLE at another HKALL library.
    assert rules(found["Cantonese opera"]) == ["HKALL-02"]
    assert "AVAILABLE" in found["Cantonese opera"]["requestability"]["refusals"][0]["reason"]
    ok = found["Hong Kong: A History"]["requestability"]
    assert ok == {"requestable": True, "lenders": ["hku"], "refusals": []}


async def test_MALA_03_refusals_for_anonymous_browsing_with_a_home_library(api):
    found = by_title(await search(api, home_library="kwnc", page_size=50))
    assert rules(found["Oxford English Dictionary"]) == ["MALA-03"]
    assert rules(found["Journal of Asian Studies"]) == ["MALA-03"]
    assert (
        "do not lend reference books"
        in (found["Oxford English Dictionary"]["requestability"]["refusals"][0]["reason"])
    )
    assert found["澳門文學史"]["requestability"]["lenders"] == ["um"]


async def test_a_library_token_searches_for_its_own_patrons(api):
    res = await api.get(
        "/api/v1/search", params={"q": "香港"}, headers=auth(api, "library", "eduhk")
    )
    assert res.status_code == 200 and res.json()["home_library"] == "eduhk"
    assert rules(by_title(res.json())["香港歷史"]) == ["HKALL-03"]


async def test_anonymous_search_shows_no_requestability(api):
    doc = await search(api, q="香港")
    assert doc["home_library"] is None
    assert all(r["requestability"] is None for r in doc["results"])


async def test_a_token_and_another_home_library_are_refused(api):
    res = await api.get(
        "/api/v1/search",
        params={"home_library": "hku"},
        headers=auth(api, "patron", "eduhk"),
    )
    assert_problem(res, 422, "home-library-mismatch")


async def test_an_operator_chooses_the_home_library(api):
    res = await api.get(
        "/api/v1/search",
        params={"home_library": "kwnc", "q": "dictionary"},
        headers=auth(api, "operator"),
    )
    assert res.status_code == 200 and rules(res.json()["results"][0]) == ["MALA-03"]


async def test_a_bad_token_is_401_not_anonymous(api):
    res = await api.get("/api/v1/search", headers={"Authorization": "Bearer nonsense"})
    assert_problem(res, 401)


async def test_cursor_pages_follow_next_and_cover_every_result_once(api):
    seen, url, pages = [], "/api/v1/search?page_size=5", 0
    while url:
        res = await api.get(url)
        assert res.status_code == 200, res.text
        doc = res.json()
        seen += [r["id"] for r in doc["results"]]
        pages += 1
        url = doc["next"]
        assert (url is None) == (doc["next_cursor"] is None)
    assert pages == 3 and len(seen) == len(set(seen)) == 12


@pytest.mark.parametrize(
    ("params", "type_"),
    [
        ({"cursor": "not-a-cursor"}, "invalid-query"),
        ({"cursor": "OS45LjkuOQ"}, "invalid-query"),  # "9.9.9.9": a tier that does not exist
        ({"page_size": 101}, "validation-error"),
        ({"page_size": 0}, "validation-error"),
        ({"page_size": "many"}, "validation-error"),
        ({"material_type": "scroll"}, "invalid-query"),
        ({"language": "klingon"}, "invalid-query"),
        ({"library": "nowhere"}, "unknown-library"),
        ({"home_library": "nowhere"}, "unknown-library"),
        ({"scope": "galaxy"}, "validation-error"),
        ({"q": "x" * 501}, "validation-error"),
        ({"available_now": "perhaps"}, "validation-error"),
    ],
)
async def test_what_cannot_be_searched_is_a_422_problem(api, params, type_):
    res = await api.get("/api/v1/search", params=params)
    assert_problem(res, 422, type_)


@pytest.mark.parametrize("q", ["\x00", "香港\x00歷史", "'\"&|!():*", "\\", "ISBN 978", "🙂", "%"])
async def test_odd_text_is_searched_not_an_error(api, q):
    res = await api.get("/api/v1/search", params={"q": q})
    assert res.status_code == 200, res.text


async def test_record_with_holdings_and_requestability(api):
    hit = (await search(api, q="9622099440"))["results"][0]
    res = await api.get(f"/api/v1/records/{hit['id']}", params={"home_library": "eduhk"})
    assert res.status_code == 200, res.text
    rec = res.json()
    assert rec["title"] == "Hong Kong: A History" and rec["isbns"] == ["9789622099449"]
    assert [(h["library"], h["status"]) for h in rec["holdings"]] == [
        ("cuhk", "ON_LOAN"),
        ("hku", "AVAILABLE"),
    ]
    assert rec["available_at"] == ["hku"] and rec["requestability"]["requestable"]


@pytest.mark.parametrize(("path", "status"), [("999999", 404), (str(2**64), 422), ("x", 422)])
async def test_a_record_not_there_is_a_problem(api, path, status):
    assert_problem(await api.get(f"/api/v1/records/{path}"), status)


async def test_a_holding_is_read_as_its_owner_reported_it(api):
    res = await api.get("/api/v1/holdings/cuhk/cuhk-0006")
    assert res.status_code == 200, res.text
    assert (res.json()["status"], res.json()["library"]) == ("ON_LOAN", "cuhk")


@pytest.mark.parametrize(
    "path",
    ["hku/nope", "hku/a%00b", "h%00/x", "hku/%ED%A0%80", "hku/" + "x" * 65, "x" * 41 + "/1"],
)
async def test_a_holding_not_there_is_a_404_on_either_database(api, path):
    # PostgreSQL refuses a NUL even in a query parameter: that is no holding, not a 500.
    assert_problem(await api.get(f"/api/v1/holdings/{path}"), 404, "not-found")


async def test_openapi_documents_search_records_and_loading(api):
    res = await api.get("/openapi.json")
    assert res.status_code == 200, res.text
    paths = res.json()["paths"]
    assert {"/api/v1/search", "/api/v1/records", "/api/v1/records/{record_id}"} <= set(paths)
    body = paths["/api/v1/records"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/marc", "application/marcxml+xml"} <= set(body)
    params = {p["name"] for p in paths["/api/v1/records"]["post"]["parameters"]}
    assert "idempotency-key" in params
