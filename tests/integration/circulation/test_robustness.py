"""Nothing a client sends makes the service answer 500, and two counters racing for the same
copy or the last place in a quota cannot both win."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import update

from services.circulation.adapters.tables import items

GARBAGE = [
    {},
    [None, 12, "text"],
    {"loan_ids": [None, 1, {}], "card_number": "X" * 5000, "smart_id": "card"},
    {"reading": {"hkid_number": "A123456(0)", "date_of_issue": "yesterday"}, "item_id": "\x00"},
    {"amount_minor": -5, "reason": "", "applies_to": 7, "secret": "x" * 200},
    {"date_of_birth": "3000-01-01", "category": "adult", "name_en": "\x00", "barcode": "\x00"},
]
FILLERS = ["%00", "A123456(3)"]


def _paths(app) -> list[tuple[str, str]]:
    routes = []
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            routes.append((method.upper(), path))
    return routes


@pytest.mark.parametrize("as_patron", [False, True], ids=["staff", "patron"])
async def test_no_request_gets_a_500(desk, as_patron):
    patron = await desk.register()
    headers = desk.staff
    if as_patron:
        res = await desk.sign_in(patron["card_number"], "s3cret-pass")
        headers = {"Authorization": f"Bearer {res.json()['access_token']}"}
    app_routes = _paths(desk.client._transport.app)  # the app under test
    assert len(app_routes) > 30
    for method, path in app_routes:
        if as_patron and not path.startswith("/api/v1/me"):
            continue
        for filler in FILLERS:
            url = re.sub(r"\{[^}]+\}", filler, path)
            if method == "GET":
                res = await desk.client.get(url, headers=headers)
                assert res.status_code < 500, (method, url, res.text)
                continue
            for body in GARBAGE:
                res = await desk.client.request(method, url, json=body, headers=headers)
                assert res.status_code < 500, (method, url, body, res.text)


async def test_two_counters_lending_one_copy_lend_it_once(desk):
    first, second = await desk.register(), await desk.register()
    item = await desk.add_item()
    results = await asyncio.gather(
        desk.checkout(first["card_number"], item), desk.checkout(second["card_number"], item)
    )
    assert sorted(r.status_code for r in results) == [201, 409]


async def test_two_counters_filling_the_last_place_of_a_quota_fill_it_once_HKPL_18(desk):
    patron = await desk.register()
    second_card = desk.unique("C")
    await desk.post(
        f"/api/v1/patrons/{patron['patron']['patron_id']}/cards", {"card_number": second_card}
    )
    items = [await desk.add_item() for _ in range(11)]
    for item in items[:9]:
        assert (await desk.checkout(patron["card_number"], item)).status_code == 201
    results = await asyncio.gather(
        desk.checkout(patron["card_number"], items[9]), desk.checkout(second_card, items[10])
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    refused = next(r for r in results if r.status_code == 409)
    assert refused.json()["rules"] == ["HKPL-09"]


async def test_numbers_too_large_to_store_are_refused_not_500(desk):
    base = {"title": "x", "material_type": "book", "service_point": "hkcl"}
    for field, value in [
        ("price_minor", 10**30),
        ("price_minor", 2**63),
        ("price_minor", 2**31),
        ("price_minor", 100_000_001),
        ("pages", 10**20),
        ("pages", 100_001),
    ]:
        res = await desk.post("/api/v1/items", {**base, "barcode": desk.unique("B"), field: value})
        assert res.status_code == 422, (field, value, res.text)
    res = await desk.post(
        "/api/v1/items",
        {**base, "barcode": desk.unique("B"), "price_minor": 100_000_000, "pages": 100_000},
    )
    assert res.status_code == 201, res.text


async def test_a_loss_charge_too_large_to_store_is_a_problem_not_500_HKPL_13(desk):
    """A price stored before the bound existed: its charge (plus the surcharge) overflows
    the ledger's column (a 64-bit integer on SQLite, 32-bit on PostgreSQL)."""
    patron = await desk.register()
    item = await desk.add_item(price_minor=100)
    huge = 9 * 10**18 if desk.runtime.engine.dialect.name == "sqlite" else 2_000_000_000
    async with desk.runtime.engine.begin() as conn:
        await conn.execute(update(items).where(items.c.id == item["id"]).values(price_minor=huge))
    res = await desk.checkout(patron["card_number"], item)
    loan_id = res.json()["loans"][0]["loan_id"]
    res = await desk.post(f"/api/v1/loans/{loan_id}/lost", {})
    assert res.status_code == 422 and res.json()["type"].endswith("/invalid-value"), res.text
    assert (await desk.get(f"/api/v1/patrons/{patron['patron']['patron_id']}/loans")).json()[
        "loans"
    ], "the refused charge is rolled back with the loan's end"
