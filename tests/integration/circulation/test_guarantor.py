"""HKPL-16: an applicant under 18 needs a guarantor (parent, guardian or another adult
resident), who is liable for the applicant's charges. A guarantor who is a registered patron
is linked to the borrower's account: the borrower's statement names them, their own account
shows what they owe as guarantor apart from their own charges, they may pay, and they are
sent the borrower's fine notices."""

from __future__ import annotations

from tests.integration.circulation.conftest import hkt

MINOR = {"category": "junior", "date_of_birth": "2012-05-01", "name_en": "Chan Siu Ming"}


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


def bearer(res) -> dict[str, str]:
    assert res.status_code == 201, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


async def registering(desk, **fields):
    body = {
        "category": "adult",
        "name_en": "Chan Tai Man",
        "date_of_birth": "1990-04-01",
        "address": {"lines": ["1 Nathan Road"], "district": "Yau Tsim Mong"},
        "email": "chan@example.hk",
        "card_number": desk.unique("C"),
        **fields,
    }
    return await desk.post("/api/v1/patrons", body)


async def test_HKPL_16_a_registered_adult_resident_is_linked_as_guarantor(desk):
    parent = await desk.register(name_en="Chan Tai Man", email="parent@example.hk")
    minor = await desk.register(
        **MINOR, guarantor={"relationship": "parent", "card_number": parent["card_number"]}
    )
    guarantor = minor["patron"]["guarantor"]
    assert guarantor["patron_id"] == pid(parent)
    assert (guarantor["name"], guarantor["relationship"]) == ("Chan Tai Man", "parent")
    assert guarantor["date_of_birth"] == "1990-04-01"  # from the guarantor's own account
    by_id = await desk.register(
        **MINOR, guarantor={"relationship": "guardian", "patron_id": pid(parent)}
    )
    assert by_id["patron"]["guarantor"]["patron_id"] == pid(parent)


async def test_HKPL_16_a_guarantor_under_18_or_not_a_resident_is_refused(desk):
    parent = await desk.register()
    child = await desk.register(
        **MINOR, guarantor={"relationship": "parent", "patron_id": pid(parent)}
    )
    res = await registering(
        desk, **MINOR, guarantor={"relationship": "adult_resident", "patron_id": pid(child)}
    )
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-16"]
    assert [r["code"] for r in res.json()["refusals"]] == ["guarantor_not_adult"]
    assert "the guarantor must be aged 18 or above (HKPL-16)" in res.json()["detail"]
    visitor = await desk.register(address={"lines": ["1 Avenida de Almeida"], "region": "MO"})
    res = await registering(
        desk, **MINOR, guarantor={"relationship": "adult_resident", "patron_id": pid(visitor)}
    )
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-16"]
    assert [r["code"] for r in res.json()["refusals"]] == ["guarantor_not_resident"]
    # An adult needs no guarantor to be liable for them; nobody unknown can stand as one.
    res = await registering(desk, guarantor={"relationship": "parent", "patron_id": pid(parent)})
    assert res.status_code == 422 and res.json()["refusals"][0]["code"] == "guarantor_not_needed"
    res = await registering(
        desk, **MINOR, guarantor={"relationship": "parent", "card_number": "NOSUCH99"}
    )
    assert res.status_code == 422 and "NOSUCH99" in res.json()["detail"]


async def test_HKPL_16_the_guarantor_is_linked_later_and_refused_when_not_an_adult(desk):
    parent, other_child = (
        await desk.register(),
        await desk.register(
            **MINOR,
            guarantor={
                "name": "Chan Tai Man",
                "relationship": "parent",
                "date_of_birth": "1980-01-01",
            },
        ),
    )
    child = await desk.register(
        **MINOR,
        guarantor={"name": "Chan Tai Man", "relationship": "parent", "date_of_birth": "1980-01-01"},
    )
    assert child["patron"]["guarantor"]["patron_id"] is None  # written on the form only
    url = f"/api/v1/patrons/{pid(child)}/guarantor"
    res = await desk.client.put(
        url, json={"relationship": "parent", "patron_id": pid(other_child)}, headers=desk.staff
    )
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-16"]
    res = await desk.client.put(
        url, json={"relationship": "parent", "patron_id": pid(child)}, headers=desk.staff
    )
    assert res.status_code == 422
    assert {r["code"] for r in res.json()["refusals"]} >= {"guarantor_is_applicant"}
    res = await desk.client.put(
        url,
        json={"relationship": "parent", "card_number": parent["card_number"]},
        headers=desk.staff,
    )
    assert res.status_code == 200, res.text
    assert res.json()["guarantor"]["patron_id"] == pid(parent)
    res = await desk.client.put(
        f"/api/v1/patrons/{pid(parent)}/guarantor",
        json={"relationship": "parent", "patron_id": pid(other_child)},
        headers=desk.staff,
    )
    assert res.status_code == 422
    assert res.json()["refusals"][0]["code"] == "guarantor_not_needed"


async def test_HKPL_16_the_guarantor_is_liable_sees_the_charges_apart_pays_and_is_told(desk):
    parent = await desk.register(name_en="Chan Tai Man", email="parent@example.hk")
    child = await desk.register(
        **MINOR,
        email="siuming@example.hk",
        guarantor={"relationship": "parent", "patron_id": pid(parent)},
    )
    late, lost = await desk.add_item(), await desk.add_item()
    for item in (late, lost):
        assert (await desk.checkout(child["card_number"], item)).status_code == 201
    await desk.travel(hkt(2026, 2, 12))  # due 8 February
    fine = (await desk.give_back(late)).json()["fine"]
    assert fine["amount_minor"] == 600
    [loan] = (await desk.get(f"/api/v1/patrons/{pid(child)}/loans")).json()["loans"]
    res = await desk.post(
        f"/api/v1/loans/{loan['loan_id']}/lost",
        {"replacement_cost_minor": 20000, "surcharge_percent": 10},
    )
    assert res.status_code == 201, res.text
    assert res.json()["fine"]["amount_minor"] == 600  # the lost item's late days, too
    # The borrower's fine notices go to the linked guarantor too, under their own reference.
    mine = [n for n in await desk.notices(pid(child)) if n["kind"] == "fine"]
    theirs = [n for n in await desk.notices(pid(parent)) if n["kind"] == "fine"]
    assert len(mine) == len(theirs) == 3
    assert {n["email"] for n in theirs} == {"parent@example.hk"}
    assert sorted(n["amount_minor"] for n in theirs) == [600, 600, 22000]
    assert all("Chan Siu Ming" in n["reason"] and "HKPL-16" in n["reason"] for n in theirs)
    assert len({n["notice_id"] for n in mine + theirs}) == 6
    # The borrower's statement names the liable guarantor.
    statement = (await desk.get(f"/api/v1/patrons/{pid(child)}/charges")).json()
    assert statement["outstanding_minor"] == 23200
    assert statement["liable_guarantor"] == {
        "rule": "HKPL-16",
        "name": "Chan Tai Man",
        "relationship": "parent",
        "patron_id": pid(parent),
        "liable_minor": 23200,
    }
    # The guarantor's own account shows it apart from their own charges...
    theirs = (await desk.get(f"/api/v1/patrons/{pid(parent)}/charges")).json()
    assert theirs["outstanding_minor"] == 0 and theirs["entries"] == []
    assert theirs["liable_as_guarantor_minor"] == 23200
    [liability] = theirs["liable_as_guarantor"]
    assert (liability["patron_id"], liability["name_en"], liability["rule"]) == (
        pid(child),
        "Chan Siu Ming",
        "HKPL-16",
    )
    assert sorted(c["unpaid_minor"] for c in liability["charges"]) == [600, 600, 22000]
    account = (await desk.get(f"/api/v1/patrons/{pid(parent)}")).json()
    assert account["charges"]["outstanding_minor"] == 0
    assert account["charges"]["liable_as_guarantor_minor"] == 23200
    # ...so the HKPL-03 ceiling stops the borrower, not the guarantor's own borrowing.
    more = await desk.add_item()
    res = await desk.checkout(child["card_number"], more)
    assert res.status_code == 409 and "HKPL-03" in res.json()["rules"]
    assert (await desk.checkout(parent["card_number"], more)).status_code == 201
    # The guarantor signed in sees the same.
    session = bearer(await desk.sign_in(parent["card_number"], "s3cret-pass"))
    res = await desk.client.get("/api/v1/me/charges", headers=session)
    assert res.json()["liable_as_guarantor_minor"] == 23200
    # The guarantor pays a charge of the borrower's; who paid is recorded.
    stranger = await desk.register()
    pay = f"/api/v1/patrons/{pid(child)}/payments"
    body = {"amount_minor": 600, "reason": "cash", "applies_to": fine["entry_id"]}
    res = await desk.post(pay, {**body, "paid_by_patron_id": pid(stranger)})
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-16"]
    res = await desk.post(pay, {**body, "paid_by_patron_id": pid(parent)})
    assert res.status_code == 201, res.text
    assert res.json()["paid_by"] == pid(parent) and res.json()["outstanding_minor"] == 22600
    statement = (await desk.get(f"/api/v1/patrons/{pid(child)}/charges")).json()
    [payment] = [e for e in statement["entries"] if e["kind"] == "payment"]
    assert payment["paid_by"] == pid(parent)
    assert statement["liable_guarantor"]["liable_minor"] == 22600
    theirs = (await desk.get(f"/api/v1/patrons/{pid(parent)}/charges")).json()
    assert theirs["liable_as_guarantor_minor"] == 22600


async def test_HKPL_16_a_guarantor_written_on_the_form_is_named_but_sent_nothing(desk):
    child = await desk.register(
        **MINOR,
        guarantor={
            "name": "Wong Mei Ling",
            "relationship": "guardian",
            "date_of_birth": "1975-07-07",
        },
    )
    item = await desk.add_item()
    await desk.checkout(child["card_number"], item)
    await desk.travel(hkt(2026, 2, 10))
    assert (await desk.give_back(item)).status_code == 201
    statement = (await desk.get(f"/api/v1/patrons/{pid(child)}/charges")).json()
    assert statement["liable_guarantor"]["name"] == "Wong Mei Ling"
    assert statement["liable_guarantor"]["patron_id"] is None
    [charge] = statement["entries"]
    ids = {e["payload"]["notice_id"] for e in await desk.messages("notice.requested")}
    assert f"charge:{charge['entry_id']}" in ids
    assert f"charge:{charge['entry_id']}:guarantor" not in ids
