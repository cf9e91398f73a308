"""Patron sessions (HKPL-08 sign-in) end when they should, not an hour later when the token
expires: the patron signs out; a lost card (HKPL-15), a new password or phone number end
every session of the account; a cancelled card ends those it signed in, a cancelled account
(HKPL-17) all. A session token is judged by the library's clock, however far that is from
the machine's date."""

from __future__ import annotations

import pytest

from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def session(desk, identifier: str, secret: str = "s3cret-pass") -> dict[str, str]:
    res = await desk.sign_in(identifier, secret)
    assert res.status_code == 201, res.text
    desk.client.cookies.clear()  # each session by its bearer token only
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


async def me(desk, headers: dict[str, str]) -> int:
    return (await desk.client.get("/api/v1/me", headers=headers)).status_code


async def test_HKPL_08_signing_out_ends_this_session_only(desk):
    patron = await desk.register()
    phone, laptop = (
        await session(desk, patron["card_number"]),
        await session(desk, patron["card_number"]),
    )
    res = await desk.client.delete("/api/v1/patron-sessions/current", headers=phone)
    assert res.status_code == 204
    res = await desk.client.get("/api/v1/me", headers=phone)
    assert res.status_code == 401 and "session has ended" in res.json()["detail"]
    assert (
        await desk.client.delete("/api/v1/patron-sessions/current", headers=phone)
    ).status_code == 401
    assert await me(desk, laptop) == 200
    # Signed in by the cookie, signed out by the cookie: the cookie is cleared, and the token
    # it held no longer works even if it was kept.
    res = await desk.sign_in(patron["card_number"], "s3cret-pass")
    token = res.json()["access_token"]
    assert (await desk.client.get("/api/v1/me")).status_code == 200
    res = await desk.client.delete("/api/v1/patron-sessions/current")
    assert res.status_code == 204 and "illfed_session" not in desk.client.cookies
    desk.client.cookies.set("illfed_session", token)
    assert (await desk.client.get("/api/v1/me")).status_code == 401
    desk.client.cookies.clear()
    # Staff tokens have no session to sign out of.
    assert (
        await desk.client.delete("/api/v1/patron-sessions/current", headers=desk.staff)
    ).status_code == 403


async def test_HKPL_15_a_lost_card_report_ends_every_session_of_the_account(desk):
    patron = await desk.register()
    card, hkid = patron["card_number"], desk.hkid()
    await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    by_card, by_hkid = await session(desk, card), await session(desk, hkid, "4567")
    res = await desk.client.post(f"/api/v1/me/cards/{card}/lost", headers=by_card)
    assert res.status_code == 200 and res.json()["status"] == "suspended"
    assert await me(desk, by_card) == 401 and await me(desk, by_hkid) == 401
    # Reported at the counter, too.
    other = await desk.register()
    mine = await session(desk, other["card_number"])
    assert (await desk.post(f"/api/v1/cards/{other['card_number']}/lost")).status_code == 200
    assert await me(desk, mine) == 401


async def test_HKPL_08_a_new_password_or_phone_number_ends_every_session(desk):
    patron = await desk.register(phone="+852 9123 4567")
    card = patron["card_number"]
    before = await session(desk, card)
    res = await desk.client.put(
        f"/api/v1/patrons/{pid(patron)}/password", json={"password": "n3w-pass"}, headers=desk.staff
    )
    assert res.status_code == 204
    assert await me(desk, before) == 401
    after = await session(desk, card, "n3w-pass")
    assert await me(desk, after) == 200
    res = await desk.client.patch(
        f"/api/v1/patrons/{pid(patron)}", json={"phone": "+852 6000 1234"}, headers=desk.staff
    )
    assert res.status_code == 200 and await me(desk, after) == 401
    # An address change is no sign-in secret: sessions go on.
    current = await session(desk, card, "1234")
    res = await desk.client.patch(
        f"/api/v1/patrons/{pid(patron)}",
        json={"address": {"lines": ["2 Castle Peak Road"]}},
        headers=desk.staff,
    )
    assert res.status_code == 200 and await me(desk, current) == 200


async def test_HKPL_17_a_cancelled_card_ends_its_sessions_a_cancelled_account_all(desk):
    patron = await desk.register()
    first = patron["card_number"]
    second = desk.unique("C")
    assert (
        await desk.post(f"/api/v1/patrons/{pid(patron)}/cards", {"card_number": second})
    ).status_code == 201
    by_first, by_second = await session(desk, first), await session(desk, second)
    assert (await desk.post(f"/api/v1/cards/{first}/cancel")).status_code == 200
    assert await me(desk, by_first) == 401 and await me(desk, by_second) == 200
    res = await desk.post(f"/api/v1/cards/{second}/cancel")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "cancelled"
    assert await me(desk, by_second) == 401


@pytest.mark.parametrize(
    "when",
    [hkt(2071, 3, 1), hkt(2003, 6, 2)],
    ids=["years-after-the-machine-date", "years-before-the-machine-date"],
)
async def test_tokens_follow_the_librarys_clock_far_from_the_machines_date(desk, when):
    await desk.travel(when)  # a staff (service) token issued by the library's clock
    patron = await desk.register(date_of_birth="1960-01-01")
    mine = await session(desk, patron["card_number"])
    assert await me(desk, mine) == 200
    desk.clock.advance(minutes=59)
    assert await me(desk, mine) == 200
    assert (await desk.get(f"/api/v1/patrons/{pid(patron)}")).status_code == 200
    desk.clock.advance(minutes=2)
    assert await me(desk, mine) == 401
    assert (await desk.get(f"/api/v1/patrons/{pid(patron)}")).status_code == 401
