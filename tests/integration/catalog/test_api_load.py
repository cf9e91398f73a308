"""``POST /api/v1/records`` over HTTP, on SQLite and PostgreSQL: JSON, JSON Lines, MARC21 and
MARCXML loads with the right counts and per-record errors, a library limited to its own
holdings (operators load nothing), problem+json for bodies that cannot be loaded, and
``Idempotency-Key`` retries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pymarc import Record
from sqlalchemy import func, select

from libs.common.db import drop_database, make_engine
from services.catalog.adapters.tables import holdings, records
from services.catalog.api.uploads import MAX_UPLOAD_BYTES
from tests.fixtures.marc.make_fixtures import (
    BOOK,
    broken_mrc,
    broken_xml,
    field,
    record,
    valid_mrc,
    valid_xml,
)

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


async def post(
    api, body: bytes | str, media_type: str, library: str = "cityu", key: str | None = None
):
    headers = auth(api, "library", library)
    headers["Content-Type"] = media_type
    if key is not None:
        headers["Idempotency-Key"] = key
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
    res = await post(api, valid_mrc("cityu"), MARC)
    assert res.status_code == 200, res.text
    r = res.json()
    assert (r["created"], r["merged"], r["holdings"], r["rejected"]) == (5, 1, 7, [])
    assert await found(api, "澳門") >= 1


async def test_broken_marc21_rejects_each_bad_record_with_its_reason(api):
    r = (await post(api, broken_mrc("cityu"), MARC)).json()
    assert (r["created"], r["merged"], r["holdings"]) == (3, 0, 4)
    reasons = {x["index"]: x["reason"] for x in r["rejected"]}
    assert sorted(reasons) == [1, 2, 4, 5, 6, 7]
    assert reasons[6] == "no title (245 $a)"


async def test_marcxml_valid_and_broken(api):
    r = (await post(api, valid_xml("cityu"), MARCXML)).json()
    assert (r["created"], r["merged"], r["holdings"], r["rejected"]) == (5, 1, 7, [])
    r = (await post(api, broken_xml("cityu"), MARCXML)).json()
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


async def test_only_libraries_load_neither_operators_nor_patrons(api):
    body = json.dumps([cityu_record(1)])
    for role, library in (("patron", "cityu"), ("operator", None)):
        res = await api.post(
            "/api/v1/records",
            content=body,
            headers={**auth(api, role, library), "Content-Type": "application/json"},
        )
        assert_problem(res, 403, "forbidden")
    assert await found(api, "kowloon") == 0
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
        # A number past Python's digit limit is a ValueError that is not a JSONDecodeError.
        (b'[{"title": "x", "year": ' + b"9" * 5000 + b"}]", "application/json", 422, None),
        (b'{"title": "x", "year": ' + b"9" * 5000 + b"}\n", "application/x-ndjson", 200, None),
        # "\u00b2".isdigit() is true, but int() refuses it.
        (
            record(
                "c1",
                BOOK,
                [field("245", "a", "T"), field("949", "a", "cityu", "i", "1", "v", "\u00b2")],
            ).as_marc(),
            MARC,
            200,
            None,
        ),
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


async def test_words_longer_than_postgresql_indexes_load_and_are_found(api):
    # A lexeme over 2047 bytes is an error in PostgreSQL; the load must not fail on it.
    items = [
        cityu_record(1, title="Ж" * 1500),
        cityu_record(2, authors=["x" * 3000]),
        cityu_record(3, subjects=["y" * 5000]),
    ]
    res = await post(api, json.dumps(items), "application/json")
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 3 and res.json()["rejected"] == []
    assert [await found(api, q) for q in ("Ж" * 400, "x" * 400, "y" * 200)] == [1, 1, 1]


async def test_a_record_with_a_field_longer_than_any_catalogue_holds_is_rejected_alone(api):
    items = [
        cityu_record(1, authors=["x" * 20_000]),
        cityu_record(2, subjects=["y" * 20_000]),
        cityu_record(3, isbn=["9" * 1000]),
        cityu_record(4, language="z" * 1000),
        cityu_record(5),
    ]
    res = await post(api, json.dumps(items), "application/json")
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 1
    rejected = {r["index"]: r["reason"] for r in res.json()["rejected"]}
    assert sorted(rejected) == [0, 1, 2, 3]
    assert "authors" in rejected[0] and "subjects" in rejected[1] and "language" in rejected[3]


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


async def catalogued(url: str) -> tuple[int, int]:
    """How many records and holdings the catalogue's database holds."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            counts = [
                (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in (records, holdings)
            ]
    finally:
        await engine.dispose()
    return counts[0], counts[1]


async def test_a_retried_load_with_its_key_gets_the_first_report_and_loads_nothing(api, fresh_url):
    body = json.dumps([cityu_record(1), cityu_record(2), {"id": "no-title", "holdings": []}])
    first = await post(api, body, "application/json", key="load-2026-12-01")
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["holdings"]) == (2, 2)
    assert await catalogued(fresh_url) == (2, 2)

    again = await post(api, body, "application/json", key="load-2026-12-01")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()  # created 2 again, not merged 2
    assert await catalogued(fresh_url) == (2, 2)
    # Without the key the same body is a new load, as before: it merges.
    plain = (await post(api, body, "application/json")).json()
    assert (plain["created"], plain["merged"]) == (0, 2)
    assert await catalogued(fresh_url) == (2, 2)


async def test_a_retried_marc21_load_is_told_apart_by_its_bytes(api, fresh_url):
    marc = valid_mrc("cityu")
    first = await post(api, marc, MARC, key="marc-1")
    assert (first.json()["created"], first.json()["merged"], first.json()["holdings"]) == (5, 1, 7)
    counts = await catalogued(fresh_url)
    again = await post(api, marc, MARC, key="marc-1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert await catalogued(fresh_url) == counts
    # One byte different (a record dropped from the end) is another request.
    res = await post(api, marc[: marc.rindex(b"\x1d", 0, -1) + 1], MARC, key="marc-1")
    assert_problem(res, 422, "idempotency-key-reused")
    assert await catalogued(fresh_url) == counts


async def test_the_same_key_with_another_body_or_media_type_is_refused(api, fresh_url):
    body = json.dumps(cityu_record(1))
    assert (await post(api, body, "application/json", key="k")).json()["created"] == 1
    res = await post(api, json.dumps(cityu_record(2)), "application/json", key="k")
    doc = assert_problem(res, 422, "idempotency-key-reused")
    assert "different request" in doc["detail"]
    # The same bytes sent as JSON Lines are a different request too.
    assert_problem(await post(api, body, "application/x-ndjson", key="k"), 422)
    assert await catalogued(fresh_url) == (1, 1)
    assert await found(api, "kowloon") == 1


async def test_keys_are_each_callers_own_and_bounded(api, fresh_url):
    mine = json.dumps(cityu_record(1))
    assert (await post(api, mine, "application/json", key="k")).json()["created"] == 1
    theirs = json.dumps([{**cityu_record(9), "holdings": [{"library": "hkbu", "item_id": "bu-9"}]}])
    res = await post(api, theirs, "application/json", library="hkbu", key="k")
    assert (res.status_code, res.json()["created"]) == (200, 1)
    assert await catalogued(fresh_url) == (2, 2)
    assert_problem(await post(api, mine, "application/json", key="x" * 201), 400)


async def test_a_refused_load_is_not_remembered(api, fresh_url):
    items = [
        cityu_record(1),
        {**cityu_record(2), "holdings": [{"library": "hkbu", "item_id": "b"}]},
    ]
    res = await post(api, json.dumps(items), "application/json", key="k")
    assert_problem(res, 403, "forbidden")
    res = await post(api, json.dumps(items[:1]), "application/json", key="k")
    assert (res.status_code, res.json()["created"]) == (200, 1)


async def test_the_same_key_sent_twice_at_once_loads_once(api, fresh_url):
    body = json.dumps([cityu_record(n) for n in range(1, 6)])
    one, two = await asyncio.gather(
        post(api, body, "application/json", key="twice"),
        post(api, body, "application/json", key="twice"),
    )
    assert one.status_code == two.status_code == 200, (one.text, two.text)
    assert one.json() == two.json() and one.json()["created"] == 5
    assert await catalogued(fresh_url) == (5, 5)
