"""Nothing a client sends makes the service answer 500, and two counters racing for the same
copy or the last place in a quota cannot both win."""

from __future__ import annotations

import asyncio
import re

import pytest

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
