"""Every service's OpenAPI document tells an integrator how to call it: the bearer token,
which operations need one, the problem documents each can answer with; and what the
services answer matches it (a 405 names every method the path has, instants carry their
time zone)."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from libs.common.errors import PROBLEM_JSON

SERVICES = ["catalog", "requests", "notifier", "circulation"]
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method, path, op


@pytest.mark.parametrize("name", SERVICES)
def test_the_document_names_the_bearer_token_and_who_needs_it(federation, name):
    doc = federation[name].app.openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    secured = {(m, p) for m, p, op in operations(doc) if {"bearer": []} in op.get("security", [])}
    assert ("get", "/health") not in secured
    assert ("post", "/api/v1/auth/token") not in secured
    expected = {
        "catalog": ("post", "/api/v1/records"),
        "requests": ("post", "/api/v1/dead-letters/{dl_id}/replay"),
        "notifier": ("get", "/api/v1/notices"),
        "circulation": ("get", "/api/v1/me"),
    }[name]
    assert expected in secured


@pytest.mark.parametrize("name", SERVICES)
def test_every_error_an_operation_can_answer_is_a_documented_problem(federation, name):
    doc = federation[name].app.openapi()
    assert set(doc["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status"}
    for method, path, op in operations(doc):
        codes = op["responses"]
        where = f"{method.upper()} {path}"
        if op.get("security"):
            assert {"401", "403"} <= set(codes), where
        if "{" in path:
            assert "404" in codes, where
        if op.get("parameters") or "requestBody" in op:
            assert "422" in codes, where
        if "requestBody" in op:
            assert "413" in codes, where
        for code, response in codes.items():
            if int(code) >= 400:
                assert response["content"] == PROBLEM, f"{where} {code}"
    assert "HTTPValidationError" not in doc["components"]["schemas"]


#: answers whose shape is a probe's own business
UNTYPED = {("get", "/ready")}


@pytest.mark.parametrize("name", ["circulation", "requests"])
def test_every_answer_of_a_library_or_the_broker_has_a_documented_shape(federation, name):
    doc = federation[name].app.openapi()
    untyped = [
        f"{method.upper()} {path} {code}"
        for method, path, op in operations(doc)
        for code, response in op["responses"].items()
        if code.startswith("2")
        and (method, path) not in UNTYPED
        and "application/json" in response.get("content", {})
        and not response["content"]["application/json"].get("schema")
    ]
    assert not untyped


def _schema_of(doc: dict, path: str, method: str, code: str) -> dict:
    ref = doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    return doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_the_borrowing_routes_describe_a_request_its_history_and_a_dry_run(federation):
    doc = federation["circulation"].app.openapi()
    for path in ("/api/v1/me/ill-requests", "/api/v1/ill/borrowing"):
        created = _schema_of(doc, path, "post", "201")
        assert {"transaction_id", "state", "quota_held", "due_date", "pickup_by"} <= set(
            created["properties"]
        )
        dry_run = _schema_of(doc, path, "post", "200")
        assert {"accepted", "rules", "refusals", "lenders"} <= set(dry_run["properties"])
        errors = doc["paths"][path]["post"]["responses"]
        assert {"404", "409", "422", "503"} <= set(errors)
        assert "rule" in errors["409"]["description"]
    detail = _schema_of(doc, "/api/v1/ill/borrowing/{transaction_id}", "get", "200")
    assert "history" in detail["properties"]
    page = _schema_of(doc, "/api/v1/ill/borrowing", "get", "200")
    assert {"requests", "next_cursor"} <= set(page["properties"])
    states = doc["components"]["schemas"]["RequesterState"]["enum"]
    assert {"Requested", "AwaitingPickup", "Completed"} <= set(states)
    for step in ("cancel", "receive", "checkout", "ship-back"):
        op = doc["paths"][f"/api/v1/ill/borrowing/{{transaction_id}}/{step}"]["post"]
        assert {"403", "404", "409"} <= set(op["responses"]), step
        assert _schema_of(doc, f"/api/v1/ill/borrowing/{{transaction_id}}/{step}", "post", "200")


def test_a_conflict_of_a_write_is_documented(federation):
    doc = federation["requests"].app.openapi()
    replay = doc["paths"]["/api/v1/dead-letters/{dl_id}/replay"]["post"]
    assert "409" in replay["responses"]


async def test_a_method_the_path_lacks_is_answered_with_every_method_it_has(federation):
    circulation = federation["circulation"]
    transport = httpx.ASGITransport(app=circulation.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hkpl.test") as client:
        res = await client.delete(
            "/api/v1/patrons/p-1",
            headers={"Authorization": f"Bearer {circulation.tokens['library']}"},
        )
    assert res.status_code == 405
    assert res.headers["content-type"].startswith(PROBLEM_JSON)
    allowed = {m.strip() for m in res.headers["allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed
    assert "DELETE" not in allowed


async def test_a_dead_letters_times_carry_their_time_zone(federation):
    requests = federation["requests"]
    transport = httpx.ASGITransport(app=requests.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://requests.test") as client:
        res = await client.get(
            "/api/v1/dead-letters",
            headers={"Authorization": f"Bearer {requests.tokens['operator']}"},
        )
    assert res.status_code == 200, res.text
    (parked,) = res.json()["items"]
    assert datetime.fromisoformat(parked["first_seen_at"]).tzinfo is not None


@pytest.mark.parametrize(
    ("name", "method", "path", "code"),
    [
        # the notifier of a deployment with its own mail server has no demo mailbox
        ("notifier", "get", "/api/v1/mailbox", "404"),
        # a wrong card number or secret, and the lock-out after too many (HKPL-08)
        ("circulation", "post", "/api/v1/patron-sessions", "401"),
        ("circulation", "post", "/api/v1/patron-sessions", "423"),
        # a body that is not JSON at all
        ("circulation", "put", "/api/v1/patrons/{patron_id}/password", "400"),
        # a patron or a loan the body names that does not exist
        ("circulation", "post", "/api/v1/holds", "404"),
        ("circulation", "post", "/api/v1/me/renewals", "404"),
    ],
)
def test_what_schemathesis_found_undocumented_is_documented(federation, name, method, path, code):
    responses = federation[name].app.openapi()["paths"][path][method]["responses"]
    assert responses[code]["content"] == PROBLEM


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")


@pytest.mark.parametrize("name", SERVICES)
def test_no_two_operations_answer_the_same_request(federation, name):
    # Each request reaches one operation whatever order the routes are tried in, so a
    # service may try its busiest routes first without changing what any request reaches.
    doc = federation[name].app.openapi()
    ops = [(method, path) for method, path, _ in operations(doc)]
    for method, path in ops:
        sample = re.sub(r"\{[^/]+?\}", "p-1", path)
        rivals = [p for m, p in ops if m == method and p != path and _pattern(p).match(sample)]
        assert not rivals, f"{method.upper()} {sample} is answered by {path} and by {rivals}"
