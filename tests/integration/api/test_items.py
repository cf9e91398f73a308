"""Items at their owning library: every change leaves through the outbox, bad input gets a
problem document, retried creates are idempotent."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.circulation.adapters.tables import outbox
from tests.integration.api.conftest import BOOK, bearer, token_for


async def _outbox(client) -> list[dict]:
    async with client.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.body).order_by(outbox.c.id))).all()
    return [json.loads(r.body) for r in rows]


async def test_adding_and_changing_an_item_announces_each_change_in_order(cityu):
    h = bearer(await token_for(cityu, "cityu"))
    item = (await cityu.post("/api/v1/items", json=BOOK, headers=h)).json()
    await cityu.post(f"/api/v1/items/{item['id']}/status", json={"status": "MISSING"}, headers=h)
    await cityu.post(f"/api/v1/items/{item['id']}/status", json={"status": "WITHDRAWN"}, headers=h)
    events = await _outbox(cityu)
    assert [
        (e["payload"]["change"], e["payload"]["status"], e["payload"]["version"]) for e in events
    ] == [
        ("added", "AVAILABLE", 1),
        ("status_changed", "MISSING", 2),
        ("withdrawn", "WITHDRAWN", 3),
    ]
    assert {e["sender"] for e in events} == {"cityu"}


async def test_retried_create_with_the_same_idempotency_key_creates_one_item(cityu):
    h = {**bearer(await token_for(cityu, "cityu")), "Idempotency-Key": "add-cu0001"}
    first = await cityu.post("/api/v1/items", json=BOOK, headers=h)
    again = await cityu.post("/api/v1/items", json=BOOK, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listing = (await cityu.get("/api/v1/items", headers=h)).json()
    assert len(listing["items"]) == 1
    assert len(await _outbox(cityu)) == 1


async def test_bad_input_gets_a_problem_document_not_a_500(cityu):
    h = bearer(await token_for(cityu, "cityu"))
    res = await cityu.post("/api/v1/items", json={**BOOK, "material_type": "scroll"}, headers=h)
    assert res.status_code == 422
    body = res.json()
    assert res.headers["content-type"].startswith("application/problem+json")
    assert "material_type" in body["detail"]
    res = await cityu.post(
        "/api/v1/items", content=b"{broken", headers={**h, "content-type": "application/json"}
    )
    assert res.status_code == 422
    res = await cityu.get("/api/v1/items/does-not-exist", headers=h)
    assert res.status_code == 404 and res.json()["type"].endswith("/not-found")


async def test_duplicate_barcode_is_a_conflict(cityu):
    h = bearer(await token_for(cityu, "cityu"))
    await cityu.post("/api/v1/items", json=BOOK, headers=h)
    res = await cityu.post("/api/v1/items", json=BOOK, headers=h)
    assert res.status_code == 409


async def test_health_and_ready(cityu):
    assert (await cityu.get("/health")).json()["status"] == "ok"
    ready = await cityu.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "bus": "ok"}
