"""``POST /api/v1/records`` over HTTP, on SQLite and PostgreSQL: JSON, JSON Lines, MARC21 and
MARCXML loads with the right counts and per-record errors, a library limited to its own
holdings, and problem+json for bodies that cannot be loaded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pymarc import Record

from libs.common.db import drop_database
from services.catalog.api.uploads import MAX_UPLOAD_BYTES
from tests.fixtures.marc.make_fixtures import BOOK, field, record

from .conftest import BACKENDS, new_database
from .http import assert_problem, auth, catalogue_client

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "marc"
MARC = "application/marc"
MARCXML = "application/marcxml+xml"


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path_factory):
    """A fresh, empty catalogue database per test: loads commit."""
    url = new_database(request.param, tmp_path_factory)
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def api(fresh_url):
    async with catalogue_client(fresh_url) as client:
        yield client


def cityu_record(n: int, **extra) -> dict:
    return {
        "id": f"cityu-b{n}",
        "title": f"Urban planning in Kowloon, volume {n}",
        "authors": ["Chan, Tai Man"],
        "year": 2000 + n,
        "holdings": [{"library": "cityu", "item_id": f"cu-{n}", "service_point": "main"}],
        **extra,
    }


async def post(api, body: bytes | str, media_type: str, library: str | None = "cityu"):
    headers = auth(api, "library", library) if library else auth(api, "operator")
    headers["Content-Type"] = media_type
    return await api.post("/api/v1/records", content=body, headers=headers)


async def found(api, q: str) -> int:
    return (await api.get("/api/v1/search", params={"q": q})).json()["total"]


async def test_json_array_loads_the_good_records_and_rejects_the_bad_with_reasons(api):
    items = [
        cityu_record(1, isbn="978-962-209-944-9"),
        cityu_record(2, isbn="978-962-209-944-0"),  # wrong check digit
        cityu_record(3),
        {"id": "no-title", "holdings": []},
        cityu_record(4, title="\x00"),
    ]
    res = await post(api, json.dumps(items), "application/json")
    assert res.status_code == 200, res.text
    report = res.json()
    assert (report["created"], report["merged"], report["holdings"]) == (2, 0, 2)
    assert [(r["index"], r["id"]) for r in report["rejected"]] == [
        (1, "cityu-b2"),
        (3, "no-title"),
        (4, "cityu-b4"),
    ]
    assert "not a valid ISBN" in report["rejected"][0]["reason"]
    assert "title" in report["rejected"][1]["reason"]
    assert "NUL" in report["rejected"][2]["reason"]
    assert await found(api, "9622099440") == 1


async def test_json_lines_with_a_line_that_is_not_json(api):
    lines = "\n".join([json.dumps(cityu_record(1)), "{not json", json.dumps(cityu_record(2))])
    res = await post(api, lines, "application/x-ndjson")
    report = res.json()
    assert (report["created"], report["loaded"]) == (2, 2)
    assert [r["index"] for r in report["rejected"]] == [1]
    assert report["rejected"][0]["reason"].startswith("not JSON")


async def test_loading_the_same_items_again_merges_and_adds_no_copies(api):
    body = json.dumps([cityu_record(1), cityu_record(2)])
    first = (await post(api, body, "application/json")).json()
    again = (await post(api, body, "application/json")).json()
    assert (first["created"], first["merged"]) == (2, 0)
    assert (again["created"], again["merged"], again["holdings"]) == (0, 2, 2)
    doc = (await api.get("/api/v1/search", params={"q": "kowloon"})).json()
    assert doc["total"] == 2 and all(len(r["holdings"]) == 1 for r in doc["results"])


async def test_valid_marc21_loads_with_the_right_counts(api):
    res = await post(api, (FIXTURES / "valid.mrc").read_bytes(), MARC, library=None)
    assert res.status_code == 200, res.text
    r = res.json()
    assert (r["created"], r["merged"], r["holdings"], r["rejected"]) == (5, 1, 7, [])
    assert await found(api, "澳門") >= 1


async def test_broken_marc21_rejects_each_bad_record_with_its_reason(api):
    r = (await post(api, (FIXTURES / "broken.mrc").read_bytes(), MARC, library=None)).json()
    assert (r["created"], r["merged"], r["holdings"]) == (3, 0, 4)
    reasons = {x["index"]: x["reason"] for x in r["rejected"]}
    assert sorted(reasons) == [1, 2, 4, 5, 6, 7]
    assert reasons[6] == "no title (245 $a)"


async def test_marcxml_valid_and_broken(api):
    r = (await post(api, (FIXTURES / "valid.xml").read_bytes(), MARCXML, library=None)).json()
    assert (r["created"], r["merged"], r["holdings"], r["rejected"]) == (5, 1, 7, [])
    r = (await post(api, (FIXTURES / "broken.xml").read_bytes(), MARCXML, library=None)).json()
    reasons = {x["index"]: x["reason"] for x in r["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert reasons[4] == "unknown library 'nowhere'"


async def test_a_library_loads_its_own_marc_holdings(api):
    rec: Record = record(
        "cu-1",
        BOOK,
        [
            field("245", "a", "香港歷史 /"),
            field("949", "a", "cityu", "i", "cu-item-1", "b", "main"),
        ],
        lang="chi",
    )
    res = await post(api, rec.as_marc(), MARC)
    assert res.status_code == 200, res.text
    assert (res.json()["created"], res.json()["holdings"]) == (1, 1)
    assert await found(api, "香港") == 1


async def test_a_library_may_not_load_another_librarys_holdings(api):
    items = [cityu_record(1), cityu_record(2)]
    items[1]["holdings"].append({"library": "hkbu", "item_id": "bu-1"})
    res = await post(api, json.dumps(items), "application/json")
    doc = assert_problem(res, 403, "forbidden")
    assert "hkbu" in doc["detail"] and doc["records"] == [1]
    assert await found(api, "kowloon") == 0  # nothing was loaded
    # A MARC file with other libraries' holdings, sent by one library, is refused too.
    res = await post(api, (FIXTURES / "valid.mrc").read_bytes(), MARC)
    assert_problem(res, 403, "forbidden")


async def test_only_libraries_and_operators_load(api):
    body = json.dumps([cityu_record(1)])
    res = await api.post(
        "/api/v1/records",
        content=body,
        headers={**auth(api, "patron", "cityu"), "Content-Type": "application/json"},
    )
    assert_problem(res, 403, "forbidden")
    res = await api.post(
        "/api/v1/records", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(res, 401)


@pytest.mark.parametrize(
    ("body", "media_type", "status", "type_"),
    [
        (b"[]", "text/csv", 415, "unsupported-media-type"),
        (b"", "application/json", 422, "empty-load"),
        (b'[{"title": "cut short"', "application/json", 422, "unreadable-load"),
        (b'{"records": 1} {', "application/json", 200, None),  # JSON Lines: one bad line
        (b"\xff\xfe[]", "application/json", 422, "unreadable-load"),
        (b"[" * 100_000, "application/json", 422, "unreadable-load"),
        (b"not marc at all", MARC, 200, None),
        (b"<collection><record>", MARCXML, 200, None),
        (b"[]", "application/json", 422, "empty-load"),
        # No external entities are read; no records is nothing to load.
        (b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/hosts'>]><x>&e;</x>", MARCXML, 422, None),
    ],
)
async def test_bodies_that_cannot_be_loaded_are_problems_never_500(
    api, body, media_type, status, type_
):
    res = await post(api, body, media_type)
    if status == 200:
        assert res.json()["created"] == 0 and res.json()["rejected"], res.text
    else:
        assert_problem(res, status, type_)


async def test_a_body_over_the_limit_is_413_with_or_without_content_length(api):
    big = b"[" + b" " * MAX_UPLOAD_BYTES + b"]"
    assert_problem(await post(api, big, "application/json"), 413, "payload-too-large")

    async def chunked():
        for _ in range(6):
            yield b" " * (MAX_UPLOAD_BYTES // 5)

    res = await api.post(
        "/api/v1/records",
        content=chunked(),
        headers={**auth(api, "library", "cityu"), "Content-Type": "application/json"},
    )
    assert_problem(res, 413, "payload-too-large")
