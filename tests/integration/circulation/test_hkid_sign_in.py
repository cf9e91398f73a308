"""HKPL-08: a patron signs in with a library card number or an HKID number. The HKID number
given at registration (check digit verified, one account per number) signs in without a
smart ID card; HKPL-14 lets only the number be kept."""

from __future__ import annotations


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


def bearer(res) -> dict[str, str]:
    assert res.status_code == 201, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def spaced(hkid: str) -> str:
    """``K123456(7)`` as a patron might type it: ``k 123456 7``."""
    return f"{hkid[0].lower()} {hkid[1:7]} {hkid[8]}"


async def test_HKPL_08_sign_in_with_the_hkid_number_given_at_registration_no_smart_id(desk):
    hkid = desk.hkid()
    patron = await desk.register(hkid_number=spaced(hkid), phone="+852 9123 4567")
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["smart_id"] is None and account["hkid_on_record"] is True
    assert hkid not in str(account)  # the number itself is not shown back
    for identifier, secret in ((hkid, "s3cret-pass"), (spaced(hkid), "4567")):
        me = await desk.client.get(
            "/api/v1/me", headers=bearer(await desk.sign_in(identifier, secret))
        )
        assert me.status_code == 200 and me.json()["patron"]["patron_id"] == pid(patron)
    # The card number still works, and a patron registered without an HKID has none.
    assert (await desk.sign_in(patron["card_number"], "s3cret-pass")).status_code == 201
    plain = await desk.register()
    account = (await desk.get(f"/api/v1/patrons/{pid(plain)}")).json()
    assert account["hkid_on_record"] is False


async def test_HKPL_08_an_hkid_number_with_a_wrong_check_digit_is_refused_plainly(desk):
    hkid = desk.hkid()
    wrong = hkid[:8] + ("0" if hkid[8] != "0" else "1") + ")"
    body = {
        "category": "adult",
        "name_en": "Lee Siu Ming",
        "date_of_birth": "1985-02-01",
        "address": {"lines": ["3 Queen's Road"]},
        "email": "lee@example.hk",
        "hkid_number": wrong,
    }
    res = await desk.post("/api/v1/patrons", body)
    assert res.status_code == 422
    assert res.json()["detail"] == "the HKID number's check digit is wrong"
    res = await desk.post("/api/v1/patrons", {**body, "hkid_number": "123"})
    assert res.status_code == 422
    assert "one or two letters, six digits and a check digit" in res.json()["detail"]
    # At sign-in, too, the wrong check digit is named (it tells nothing about any account).
    res = await desk.sign_in(wrong, "s3cret-pass")
    assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    assert res.json()["refusals"][0]["code"] == "invalid_hkid"
    assert "check digit is wrong" in res.json()["detail"]


async def test_HKPL_08_one_account_per_hkid_number(desk):
    hkid = desk.hkid()
    first = await desk.register(hkid_number=hkid)
    res = await desk.post(
        "/api/v1/patrons",
        {
            "category": "adult",
            "name_en": "Someone Else",
            "date_of_birth": "1990-04-01",
            "address": {"lines": ["1 Nathan Road"]},
            "email": "else@example.hk",
            "hkid_number": hkid,
        },
    )
    assert res.status_code == 409 and "already registered" in res.json()["detail"]
    # Nor may another account register a smart ID card with that number...
    other = await desk.register()
    res = await desk.post(
        f"/api/v1/patrons/{pid(other)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    assert res.status_code == 409
    # ...while the holder's own smart ID card (same number) is accepted, another one is not.
    res = await desk.post(
        f"/api/v1/patrons/{pid(first)}/smart-id",
        {"reading": desk.smart_id_reading(desk.hkid())},
    )
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-14"]
    res = await desk.post(
        f"/api/v1/patrons/{pid(first)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    assert res.status_code == 201, res.text
    # A smart ID card's number cannot be given at another registration either.
    res = await desk.post(
        "/api/v1/patrons",
        {
            "category": "adult",
            "name_en": "Someone Else",
            "date_of_birth": "1990-04-01",
            "address": {"lines": ["1 Nathan Road"]},
            "email": "else@example.hk",
            "hkid_number": hkid,
        },
    )
    assert res.status_code == 409


async def test_HKPL_08_hkid_sign_in_locks_out_after_the_policys_failures(desk):
    hkid = desk.hkid()
    patron = await desk.register(hkid_number=hkid)
    for _ in range(4):
        res = await desk.sign_in(hkid, "wrong-guess")
        assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    res = await desk.sign_in(hkid, "0000")
    assert res.status_code == 423 and "locked after 5 failed attempts" in res.json()["detail"]
    for identifier in (hkid, patron["card_number"]):  # one account, one lock
        assert (await desk.sign_in(identifier, "s3cret-pass")).status_code == 423
    assert (await desk.post(f"/api/v1/patrons/{pid(patron)}/sign-in/unlock")).status_code == 204
    assert (await desk.sign_in(hkid, "s3cret-pass")).status_code == 201
