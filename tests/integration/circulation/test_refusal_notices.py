"""The notices of a refusal or a suspension on SQLite and PostgreSQL: a refused online
renewal is e-mailed with the rules and reasons (HKALL-13's result by e-mail; HKPL-03,
HKPL-05), once per request, even though the request itself is answered with the refusal; a
lost card's suspension is told once, in the lost card notice (HKPL-15)."""

from __future__ import annotations

from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def _kinds(desk, patron: dict, kind: str) -> list[dict]:
    return [n for n in await desk.notices(pid(patron)) if n["kind"] == kind]


async def _reserved(desk, title: str) -> dict:
    """An item of its own title, reserved by another reader once it is lent."""
    return await desk.add_item(title=title, title_id=desk.unique("T"))


async def _reserve(desk, item: dict) -> None:
    waiting = await desk.register()
    res = await desk.post(
        "/api/v1/holds",
        {"patron_id": pid(waiting), "title_id": item["title_id"], "pickup_location": "kpl"},
    )
    assert res.status_code == 201, res.text


async def test_a_wholly_refused_renewal_is_mailed_once_with_the_rule_HKPL_03_HKALL_13(desk):
    patron = await desk.register()
    item = await _reserved(desk, "The Hong Kong Countryside")
    [loan] = (await desk.checkout(patron["card_number"], item)).json()["loans"]
    await _reserve(desk, item)
    await desk.travel(hkt(2026, 2, 6))
    url = f"/api/v1/patrons/{pid(patron)}/renewals"
    res = await desk.post(url, {"loan_ids": [loan["loan_id"]]})
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-03"]
    # The refusal is answered, and its notice committed all the same.
    [denied] = await _kinds(desk, patron, "renewal_denied")
    assert denied["title"] == "The Hong Kong Countryside"
    assert denied["rule"] == "HKPL-03" and "reserved" in denied["reason"]
    assert denied["due_date"] == "2026-02-08"  # unchanged
    assert denied["transaction_ref"] is None
    assert await _kinds(desk, patron, "renewal_approved") == []
    # Asking again the same day is the same refusal: the same notice id, so one e-mail.
    again = await desk.post(url, {"loan_ids": [loan["loan_id"]]}, **{"Idempotency-Key": "r1"})
    assert again.status_code == 409
    assert {n["notice_id"] for n in await _kinds(desk, patron, "renewal_denied")} == {
        denied["notice_id"]
    }
    # Nothing else of the refused request was kept.
    [still] = (await desk.get(f"/api/v1/patrons/{pid(patron)}/loans")).json()["loans"]
    assert still["renewals"] == 0 and still["due_date"] == "2026-02-08"


async def test_a_partly_refused_renewal_names_the_refused_items_and_the_reference_HKPL_06(desk):
    patron = await desk.register(language="zh-Hant")
    free = await desk.add_item(title="Macau: A Cultural Janus")
    held = await _reserved(desk, "Chungking Mansions")
    [a] = (await desk.checkout(patron["card_number"], free)).json()["loans"]
    [b] = (await desk.checkout(patron["card_number"], held)).json()["loans"]
    await _reserve(desk, held)
    await desk.travel(hkt(2026, 2, 6))
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [a["loan_id"], b["loan_id"]]}
    )
    assert res.status_code == 201, res.text
    ref = res.json()["transaction_ref"]
    assert [r["item_id"] for r in res.json()["refused"]] == [held["id"]]
    [approved] = await _kinds(desk, patron, "renewal_approved")
    [denied] = await _kinds(desk, patron, "renewal_denied")
    assert approved["title"] == "Macau: A Cultural Janus" and approved["transaction_ref"] == ref
    assert denied["title"] == "Chungking Mansions" and denied["rule"] == "HKPL-03"
    assert denied["transaction_ref"] == ref and denied["notice_id"] == f"renewal-denied:{ref}"
    assert denied["language"] == "zh-Hant"


async def test_a_set_refused_as_a_whole_is_one_notice_naming_both_rules_HKPL_05(desk):
    patron = await desk.register()
    title = desk.unique("T")
    main = await desk.add_item(
        title="Cantonese: A Comprehensive Grammar",
        material_type="book_with_disc",
        set_id=title,
        title_id=title,
    )
    await desk.add_item(
        title="Cantonese: A Comprehensive Grammar (CD-ROM)",
        material_type="book_with_disc",
        set_id=title,
        main_item_id=main["id"],
    )
    loans = (await desk.checkout(patron["card_number"], main)).json()["loans"]
    await _reserve(desk, main)
    await desk.travel(hkt(2026, 1, 26))  # a day later, so that renewing extends (HKPL-02)
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loans[-1]["loan_id"]]}
    )
    assert res.status_code == 409
    [denied] = await _kinds(desk, patron, "renewal_denied")
    assert set(denied["rule"].split(", ")) == {"HKPL-03", "HKPL-05"}
    assert "(CD-ROM)" in denied["title"] and "renewed together" in denied["reason"]


async def test_a_lost_card_suspension_is_told_once_in_the_lost_card_notice_HKPL_15(desk):
    patron = await desk.register()
    res = await desk.post(f"/api/v1/cards/{patron['card_number']}/lost")
    assert res.status_code == 200 and res.json()["patron"]["status"] == "suspended"
    [lost] = await _kinds(desk, patron, "lost_card_reported")
    assert lost["rule"] == "HKPL-15"
    # The lost card notice says the account stays suspended until a replacement card is
    # issued; a separate suspension e-mail would say it twice.
    assert await _kinds(desk, patron, "suspension") == []


async def test_the_patrons_own_online_renewal_refused_is_mailed_HKPL_07_HKALL_13(desk):
    patron = await desk.register()
    item = await _reserved(desk, "City of Protest")
    [loan] = (await desk.checkout(patron["card_number"], item)).json()["loans"]
    await _reserve(desk, item)
    await desk.travel(hkt(2026, 2, 7, 23))  # online renewal never closes (HKPL-07)
    res = await desk.sign_in(patron["card_number"], "s3cret-pass")
    mine = {"Authorization": f"Bearer {res.json()['access_token']}"}
    res = await desk.client.post(
        "/api/v1/me/renewals", json={"loan_ids": [loan["loan_id"]]}, headers=mine
    )
    desk.client.cookies.clear()
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-03"]
    [denied] = await _kinds(desk, patron, "renewal_denied")
    assert denied["title"] == "City of Protest" and denied["rule"] == "HKPL-03"
    assert denied["email"] == "chan.taiman@example.hk"
