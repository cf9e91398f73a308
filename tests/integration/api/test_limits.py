"""What a client may send is bounded where it comes in: a number past what the database
stores is a 422, a body past the size limit is a 413 as soon as it passes it (chunked too),
an over-long field is a 422; and an error nobody foresaw is a 500 problem document that
leaves the connection open. On SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import bearer as bearer_of
from tests.integration.api.conftest import token_for
from tests.integration.api.services import BACKENDS, bearer, service_client

PROBLEM = "application/problem+json"
TOO_BIG = 2**63
LARGEST = 2**63 - 1
MB = 1024 * 1024


def assert_problem(res, status: int) -> dict:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    return res.json()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_dead_letter_cursor_or_id_past_64_bits_is_a_422(backend, tmp_path):
    async with service_client("requests", backend, tmp_path) as broker:
        op = bearer(broker, "operator", None)
        for cursor in (TOO_BIG, 10**30):
            res = await broker.get("/api/v1/dead-letters", params={"cursor": cursor}, headers=op)
            assert "cursor" in assert_problem(res, 422)["detail"]
        res = await broker.post(f"/api/v1/dead-letters/{TOO_BIG}/replay", headers=op)
        assert_problem(res, 422)
        # The largest stored id is still a fine cursor, and a fine id that is not there.
        res = await broker.get("/api/v1/dead-letters", params={"cursor": LARGEST}, headers=op)
        assert res.status_code == 200 and res.json()["items"] == []
        res = await broker.post(f"/api/v1/dead-letters/{LARGEST}/replay", headers=op)
        assert_problem(res, 404)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_notice_cursor_past_64_bits_is_a_422(backend, tmp_path):
    async with service_client("notifier", backend, tmp_path) as notifier:
        op = bearer(notifier, "operator", None)
        for path in ("/api/v1/notices", "/api/v1/notices/failed"):
            res = await notifier.get(path, params={"cursor": TOO_BIG}, headers=op)
            assert "cursor" in assert_problem(res, 422)["detail"]
            res = await notifier.get(path, params={"cursor": LARGEST}, headers=op)
            assert res.status_code == 200 and res.json()["items"] == []


def chunks(total: int, size: int, sent: list[int]):
    """A body of ``total`` bytes sent chunked (no Content-Length), counting what was sent."""

    async def body():
        for _ in range(total // size):
            sent.append(size)
            yield b" " * size

    return body()


@pytest.mark.parametrize("path", ["/api/v1/patrons", "/api/v1/patron-sessions"])
async def test_a_chunked_body_past_the_limit_is_refused_without_being_read_whole(cityu, path):
    h = bearer_of(await token_for(cityu, "cityu"))
    sent: list[int] = []
    res = await cityu.post(
        path,
        content=chunks(20 * MB, MB // 4, sent),
        headers={**h, "Content-Type": "application/json"},
    )
    assert "content-length" not in res.request.headers
    doc = assert_problem(res, 413)
    assert doc["type"].endswith("/payload-too-large")
    # Refused once it passed 5 MB, not after all 20 MB had been taken in.
    assert sum(sent) <= 6 * MB
    # The service goes on answering.
    assert (await cityu.get("/health")).status_code == 200


async def test_a_registration_with_an_address_line_of_a_megabyte_is_a_422(cityu):
    h = bearer_of(await token_for(cityu, "cityu"))
    registration = {
        "category": "adult",
        "name_en": "CHAN, Tai Man",
        "date_of_birth": "1990-01-01",
        "address": {"lines": ["x" * MB], "district": "Kowloon"},
        "email": "chan@example.org",
    }
    res = await cityu.post("/api/v1/patrons", json=registration, headers=h)
    assert "address.lines" in assert_problem(res, 422)["detail"]
    long_district = {**registration, "address": {"lines": ["1 Nathan Road"], "district": "x" * 500}}
    res = await cityu.post("/api/v1/patrons", json=long_district, headers=h)
    assert "district" in assert_problem(res, 422)["detail"]
    res = await cityu.post(
        "/api/v1/patrons/anyone/renewals", json={"loan_ids": ["x" * 10_000]}, headers=h
    )
    assert "loan_ids" in assert_problem(res, 422)["detail"]


async def test_an_unforeseen_error_is_a_500_problem_and_the_connection_stays(cityu):
    async def broken():
        raise RuntimeError("a bug")

    # The fixture's app, with a route that fails as a bug would.
    app = cityu._transport.app
    app.add_api_route("/test-only/broken", broken, methods=["GET"])
    # The transport raises whatever the app lets out, as a server would by dropping the
    # connection: a 500 answered properly lets nothing out.
    res = await cityu.get("/test-only/broken")
    doc = assert_problem(res, 500)
    assert doc["type"].endswith("/internal-error") and "a bug" not in res.text
    assert (await cityu.get("/health")).status_code == 200
