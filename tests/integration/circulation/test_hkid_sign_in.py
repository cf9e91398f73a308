"""HKPL-08: a patron signs in with a library card number, or with an HKID number if (and only
if) they have applied to use their smart ID card for library services. The HKID number given
at registration (check digit verified, one account per number) is kept (HKPL-14 lets only the
number be kept) but signs in only once the smart ID card is registered, as at borrowing."""

from __future__ import annotations


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


def bearer(res) -> dict[str, str]:
    assert res.status_code == 201, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def spaced(hkid: str) -> str:
    """``K123456(7)`` as a patron might type it: ``k 123456 7``."""
    return f"{hkid[0].lower()} {hkid[1:7]} {hkid[8]}"


async def test_HKPL_08_the_hkid_number_given_at_registration_signs_in_only_with_a_smart_id(desk):
    hkid = desk.hkid()
    patron = await desk.register(hkid_number=spaced(hkid), phone="+852 9123 4567")
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["smart_id"] is None and account["hkid_on_record"] is True
    assert hkid not in str(account)  # the number itself is not shown back
    # No smart ID application yet: the HKID number does not sign in, as it does not borrow.
    for identifier, secret in ((hkid, "s3cret-pass"), (spaced(hkid), "4567")):
        res = await desk.sign_in(identifier, secret)
        assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"], res.text
        assert res.json()["refusals"][0]["code"] == "smart_id_not_registered"
        assert "smart ID card is registered for library use" in res.json()["detail"]
    # Whoever does not know the secret is told only "no match", as for a number nobody has.
    wrong = await desk.sign_in(hkid, "wrong-guess")
    nobody = await desk.sign_in(desk.hkid(), "wrong-guess")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    # The card number works meanwhile; once the smart ID card is registered, the HKID too.
    assert (await desk.sign_in(patron["card_number"], "s3cret-pass")).status_code == 201
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    assert res.status_code == 201, res.text
    for identifier, secret in ((hkid, "s3cret-pass"), (spaced(hkid), "4567")):
        me = await desk.client.get(
            "/api/v1/me", headers=bearer(await desk.sign_in(identifier, secret))
        )
        assert me.status_code == 200 and me.json()["patron"]["patron_id"] == pid(patron)
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


async def test_HKPL_08_failed_hkid_sign_ins_wait_like_a_card_numbers(desk):
    hkid = desk.hkid()
    patron = await desk.register(hkid_number=hkid)
    await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    for _ in range(5):
        res = await desk.sign_in(spaced(hkid), "wrong-guess")  # however it is typed
        assert res.status_code == 401 and res.json()["rules"] == ["HKPL-08"]
    res = await desk.sign_in(hkid, "s3cret-pass")
    assert res.status_code == 429 and res.json()["rules"] == ["HKPL-08"]
    assert res.headers["Retry-After"] == "60"
    assert (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()["sign_in_locked"] is True
    # Staff can lift the wait for the patron at the desk.
    assert (await desk.post(f"/api/v1/patrons/{pid(patron)}/sign-in/unlock")).status_code == 204
    assert (await desk.sign_in(hkid, "s3cret-pass")).status_code == 201
