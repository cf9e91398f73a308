"""Cards and the smart ID card of one account: HKPL-14 reads, sign-in with lock-out
(HKPL-08), lost cards (HKPL-15), replacement fees (HKPL-12), the smart ID replacement taking
over (HKPL-19), cancellation (HKPL-17), change of address; and self-service for the signed-in
patron."""

from __future__ import annotations

from services.circulation.domain.hashing import SecretHasher
from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


def bearer(res) -> dict[str, str]:
    assert res.status_code == 201, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


async def test_smart_id_registration_reads_only_what_HKPL_14_allows(desk):
    patron = await desk.register()
    hkid = desk.hkid()
    url = f"/api/v1/patrons/{pid(patron)}/smart-id"
    reading = desk.smart_id_reading(hkid, address="1 Nathan Road", sex="M")
    res = await desk.post(url, {"reading": reading})
    assert res.status_code == 422
    assert res.json()["rules"] == ["HKPL-14"]
    assert "address" in res.json()["detail"] and "sex" in res.json()["detail"]
    res = await desk.post(url, {"reading": desk.smart_id_reading(hkid, date_of_birth="1991-01-01")})
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-14"]  # not this borrower
    res = await desk.post(url, {"reading": desk.smart_id_reading(hkid)})
    assert res.status_code == 201 and res.json()["smart_id"] == {"status": "active"}
    other = await desk.register()
    res = await desk.post(
        f"/api/v1/patrons/{pid(other)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    assert res.status_code == 409  # one smart ID card, one account


async def test_sign_in_with_card_or_hkid_and_password_or_phone_digits_then_lock_out_HKPL_08(
    desk,
):
    patron = await desk.register(phone="+852 9123 4567", password="s3cret-pass")
    hkid = desk.hkid()
    await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    card = patron["card_number"]
    for identifier, secret in ((card, "s3cret-pass"), (card, "4567"), (hkid, "4567")):
        me = await desk.client.get(
            "/api/v1/me", headers=bearer(await desk.sign_in(identifier, secret))
        )
        assert me.status_code == 200 and me.json()["patron"]["patron_id"] == pid(patron)
    # An unknown identifier says no more than a wrong secret does.
    res = await desk.sign_in("ZZ999999", "4567")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    assert res.json() == (await desk.sign_in(card, "wrong-guess")).json()
    for _ in range(4):
        res = await desk.sign_in(card, "wrong-guess")
        assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    res = await desk.sign_in(card, "s3cret-pass")
    assert res.status_code == 429  # waiting: even the right password is not tried
    assert res.json()["rules"] == ["HKPL-08"] and "try again in 60 seconds" in res.json()["detail"]
    assert (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()["sign_in_locked"] is True
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/sign-in/unlock")
    assert res.status_code == 204
    assert (await desk.sign_in(card, "s3cret-pass")).status_code == 201
    # A change of telephone number changes the digits that sign in (and the address too).
    res = await desk.client.patch(
        f"/api/v1/patrons/{pid(patron)}",
        json={"phone": "+852 6000 1234", "address": {"lines": ["2 Castle Peak Road"]}},
        headers=desk.staff,
    )
    assert res.status_code == 200 and res.json()["address"]["lines"] == ["2 Castle Peak Road"]
    assert (await desk.sign_in(card, "4567")).status_code == 401
    assert (await desk.sign_in(card, "1234")).status_code == 201


async def test_self_service_loans_renewal_and_reference_look_up_HKPL_06_HKPL_07(desk):
    patron, stranger = await desk.register(), await desk.register()
    item = await desk.add_item(title="Macau: A Cultural Janus")
    await desk.checkout(patron["card_number"], item)
    await desk.travel(hkt(2026, 2, 7, 3))  # three in the morning: renewal never closes
    mine = bearer(await desk.sign_in(patron["card_number"], "s3cret-pass"))
    [loan] = (await desk.client.get("/api/v1/me/loans", headers=mine)).json()["loans"]
    assert loan["due_date"] == "2026-02-08"
    preview = await desk.client.post(
        "/api/v1/me/renewals/preview", json={"loan_ids": []}, headers=mine
    )
    assert preview.json()["outcomes"][0]["new_due_date"] == "2026-02-21"
    res = await desk.client.post(
        "/api/v1/me/renewals", json={"loan_ids": [loan["loan_id"]]}, headers=mine
    )
    assert res.status_code == 201, res.text
    ref = res.json()["transaction_ref"]
    found = await desk.client.get(f"/api/v1/me/renewal-transactions/{ref}", headers=mine)
    assert found.status_code == 200
    assert found.json()["items"][0]["title"] == "Macau: A Cultural Janus"
    [notice] = [n for n in await desk.notices(pid(patron)) if n["kind"] == "renewal_approved"]
    assert notice["transaction_ref"] == ref and notice["due_date"] == "2026-02-21"
    # Somebody else's number is not theirs to see.
    theirs = bearer(await desk.sign_in(stranger["card_number"], "s3cret-pass"))
    res = await desk.client.get(f"/api/v1/me/renewal-transactions/{ref}", headers=theirs)
    assert res.status_code == 404
    # The session cookie works as well as the bearer token.
    desk.client.cookies.clear()
    await desk.sign_in(patron["card_number"], "s3cret-pass")
    res = await desk.client.get("/api/v1/me/charges")
    assert res.status_code == 200 and res.json()["outstanding_minor"] == 0
    desk.client.cookies.clear()


async def test_lost_card_stops_working_until_replaced_and_the_fee_HKPL_15_HKPL_12(desk):
    patron = await desk.register()
    card = patron["card_number"]
    mine = bearer(await desk.sign_in(card, "s3cret-pass"))
    res = await desk.client.post(f"/api/v1/me/cards/{card}/lost", headers=mine)
    assert res.status_code == 200 and res.json()["status"] == "suspended"
    assert res.json()["blocks"][0]["rule"] == "HKPL-15"
    res = await desk.sign_in(card, "s3cret-pass")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-15"]
    res = await desk.checkout(card, await desk.add_item())
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-15"]
    [notice] = [n for n in await desk.notices(pid(patron)) if n["kind"] == "lost_card_reported"]
    assert notice["email"] == "chan.taiman@example.hk"
    new_card = desk.unique("C")
    key = {"Idempotency-Key": desk.unique("r")}
    body = {"new_card_number": new_card}
    first = await desk.post(f"/api/v1/cards/{card}/replacement", body, **key)
    again = await desk.post(f"/api/v1/cards/{card}/replacement", body, **key)
    assert first.json() == again.json()
    assert first.json()["charge"]["amount_minor"] == 3300  # aged 18 or above
    statement = (await desk.get(f"/api/v1/patrons/{pid(patron)}/charges")).json()
    assert [e["kind"] for e in statement["entries"]] == ["card_replacement"]
    assert (await desk.checkout(new_card, await desk.add_item())).status_code == 201
    # The lost card, now replaced, stays refused by HKPL-15 at sign-in as at checkout.
    res = await desk.sign_in(card, "s3cret-pass")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-15"]
    assert "no longer valid (replaced)" in res.json()["detail"]
    res = await desk.checkout(card, await desk.add_item())
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-15"]
    assert (await desk.sign_in(new_card, "s3cret-pass")).status_code == 201


async def test_smart_id_replacement_takes_over_only_when_the_report_said_so_HKPL_19(desk):
    keeps, stops = await desk.register(), await desk.register()
    for patron in (keeps, stops):
        patron["hkid"] = desk.hkid()
        await desk.post(
            f"/api/v1/patrons/{pid(patron)}/smart-id",
            {"reading": desk.smart_id_reading(patron["hkid"])},
        )
    for patron, keep in ((keeps, True), (stops, False)):
        res = await desk.post(
            f"/api/v1/patrons/{pid(patron)}/smart-id/lost", {"continue_with_replacement": keep}
        )
        # Stopping the smart ID's library use leaves the library card working (HKPL-17).
        expected = "suspended" if keep else "active"
        assert res.status_code == 200 and res.json()["patron"]["status"] == expected
    new_card = {"date_of_issue": "2026-01-20"}
    res = await desk.post(
        f"/api/v1/patrons/{pid(keeps)}/smart-id/replacement",
        {"reading": {"hkid_number": keeps["hkid"], **new_card, "english_name": "CHAN"}},
    )
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-14"]
    res = await desk.post(
        f"/api/v1/patrons/{pid(keeps)}/smart-id/replacement",
        {"reading": {"hkid_number": keeps["hkid"], **new_card}},
    )
    assert res.status_code == 201, res.text
    assert res.json()["patron"]["status"] == "active" and res.json()["charge"] is None
    res = await desk.post(
        "/api/v1/loans",
        {
            "smart_id": {"hkid_number": keeps["hkid"], **new_card},
            "item_id": (await desk.add_item())["id"],
        },
    )
    assert res.status_code == 201, res.text
    res = await desk.post(
        f"/api/v1/patrons/{pid(stops)}/smart-id/replacement",
        {"reading": {"hkid_number": stops["hkid"], **new_card}},
    )
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-19"]
    assert "fresh application" in res.json()["detail"]


async def test_cancelling_the_only_card_cancels_the_account_HKPL_17(desk):
    patron = await desk.register()
    hkid = desk.hkid()
    await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/smart-id/discontinue")
    assert res.status_code == 200 and res.json()["smart_id"] == {"status": "discontinued"}
    assert res.json()["patron"]["status"] == "active"  # the library card still works
    res = await desk.post(f"/api/v1/cards/{patron['card_number']}/cancel")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "cancelled"
    res = await desk.checkout(patron["card_number"], await desk.add_item())
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"]
    res = await desk.post(f"/api/v1/cards/{patron['card_number']}/cancel")
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"]


async def _with_smart_id(desk) -> dict:
    patron = await desk.register()
    patron["hkid"] = desk.hkid()
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id",
        {"reading": desk.smart_id_reading(patron["hkid"])},
    )
    assert res.status_code == 201, res.text
    return patron


async def test_a_lost_smart_id_not_continued_is_discontinued_and_the_card_works_HKPL_15_19(
    desk,
):
    patron = await _with_smart_id(desk)
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id/lost", {"continue_with_replacement": False}
    )
    assert res.status_code == 200, res.text
    assert res.json()["smart_id"] == {"status": "discontinued"}
    assert res.json()["patron"]["status"] == "active" and not res.json()["patron"]["blocks"]
    assert (await desk.checkout(patron["card_number"], await desk.add_item())).status_code == 201
    at_counter = {"hkid_number": patron["hkid"], "date_of_issue": "2020-03-01"}
    res = await desk.post("/api/v1/loans", {"smart_id": at_counter, "item_id": "x"})
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-15"]
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id/replacement",
        {"reading": {"hkid_number": patron["hkid"], "date_of_issue": "2026-01-20"}},
    )
    assert res.status_code == 409 and "fresh application" in res.json()["detail"]
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id",
        {"reading": desk.smart_id_reading(patron["hkid"], date_of_issue="2026-01-20")},
    )
    assert res.status_code == 201 and res.json()["smart_id"] == {"status": "active"}


async def test_with_no_card_left_the_stopped_smart_id_suspends_until_a_card_is_issued_HKPL_15(
    desk,
):
    patron = await _with_smart_id(desk)
    res = await desk.post(f"/api/v1/cards/{patron['card_number']}/cancel")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "active"
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id/lost", {"continue_with_replacement": False}
    )
    assert res.status_code == 200 and res.json()["patron"]["status"] == "suspended"
    card = desk.unique("C")
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/cards", {"card_number": card})
    assert res.status_code == 201, res.text
    assert (await desk.checkout(card, await desk.add_item())).status_code == 201


async def test_a_lost_smart_id_waiting_for_its_replacement_can_be_discontinued_HKPL_17(desk):
    patron = await _with_smart_id(desk)
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id/lost", {"continue_with_replacement": True}
    )
    assert res.json()["patron"]["status"] == "suspended"
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/smart-id/discontinue")
    assert res.status_code == 200, res.text
    assert res.json()["smart_id"] == {"status": "discontinued"}
    assert res.json()["patron"]["status"] == "active"
    assert (await desk.checkout(patron["card_number"], await desk.add_item())).status_code == 201


async def test_the_account_is_not_cancelled_while_items_are_out_or_charges_unpaid_HKPL_17(desk):
    patron = await desk.register()
    card = patron["card_number"]
    item = await desk.add_item()
    assert (await desk.checkout(card, item)).status_code == 201
    res = await desk.post(f"/api/v1/cards/{card}/cancel")
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"], res.text
    assert "1 item on loan" in res.json()["detail"]
    await desk.travel(hkt(2026, 2, 10))  # two days late: HKD 3.00 fine on return
    assert (await desk.give_back(item)).status_code == 201
    res = await desk.post(f"/api/v1/cards/{card}/cancel")
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"]
    assert "HKD 3.00 in unpaid charges" in res.json()["detail"]
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["patron"]["status"] == "active" and account["cards"][0]["status"] == "active"
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/payments",
        {"amount_minor": 300, "reason": "paid at the counter"},
    )
    assert res.status_code == 201, res.text
    res = await desk.post(f"/api/v1/cards/{card}/cancel")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "cancelled"


async def test_the_last_credential_a_smart_id_is_not_discontinued_with_loans_out_HKPL_17(desk):
    patron = await _with_smart_id(desk)
    await desk.post(f"/api/v1/patrons/{pid(patron)}/cards", {"card_number": desk.unique("C")})
    at_counter = {"hkid_number": patron["hkid"], "date_of_issue": "2020-03-01"}
    item = await desk.add_item()
    res = await desk.post("/api/v1/loans", {"smart_id": at_counter, "item_id": item["id"]})
    assert res.status_code == 201, res.text
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    for c in account["cards"]:
        res = await desk.post(f"/api/v1/cards/{c['card_number']}/cancel")
        assert res.status_code == 200, res.text  # the smart ID still opens the account
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/smart-id/discontinue")
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"]
    assert (await desk.give_back(item)).status_code == 201
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/smart-id/discontinue")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "cancelled"


async def test_a_wrong_secret_learns_nothing_about_the_card_HKPL_08_HKPL_15(desk, monkeypatch):
    patron = await desk.register()
    card = patron["card_number"]
    assert (await desk.post(f"/api/v1/cards/{card}/lost")).status_code == 200
    res = await desk.sign_in(card, "wrong-guess")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    assert "lost" not in res.json()["detail"]
    res = await desk.sign_in(card, "s3cret-pass")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-15"]
    # An identifier nobody has costs the same two slow checks as a real one.
    checks: list[str] = []
    verify = SecretHasher.verify
    monkeypatch.setattr(
        SecretHasher, "verify", lambda self, e, s: checks.append("x") or verify(self, e, s)
    )
    for identifier in (desk.unique("C"), card):
        checks.clear()
        assert (await desk.sign_in(identifier, "wrong-guess")).status_code == 401
        assert len(checks) == 2, identifier
