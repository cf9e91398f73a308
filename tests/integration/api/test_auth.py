"""Who may call a library's circulation service: signed, unexpired tokens meant for it, and
only for that library's own items."""

from __future__ import annotations

from datetime import timedelta

import jwt

from libs.common.auth import client_secret
from libs.common.settings import DEV_SECRET
from tests.integration.api.conftest import BOOK, bearer, token_for

PROBLEM = "application/problem+json"


async def test_client_credentials_get_a_token_that_works(cityu):
    token = await token_for(cityu, "cityu")
    res = await cityu.post("/api/v1/items", json=BOOK, headers=bearer(token))
    assert res.status_code == 201, res.text
    assert res.json()["status"] == "AVAILABLE"


async def test_wrong_client_secret_gets_401_problem(cityu):
    res = await cityu.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "cityu", "client_secret": "guess"},
    )
    assert res.status_code == 401
    assert res.headers["content-type"].startswith(PROBLEM)
    assert res.json()["type"].endswith("/unauthorized")


async def test_no_token_gets_401(cityu):
    res = await cityu.get("/api/v1/items")
    assert res.status_code == 401
    assert res.headers["content-type"].startswith(PROBLEM)


async def test_expired_token_gets_401(cityu, clock):
    token = await token_for(cityu, "cityu")
    clock.advance(timedelta(hours=2))
    res = await cityu.get("/api/v1/items", headers=bearer(token))
    assert res.status_code == 401
    assert "expired" in res.json()["detail"]


async def test_token_for_another_service_gets_401(cityu):
    # A token hkbu's circulation service issued is not good at cityu's.
    tokens = cityu.runtime  # the same clock and secret; only the audience differs
    forged = jwt.encode(
        {
            "iss": "illfed",
            "sub": "cityu",
            "aud": "illfed:circulation:hkbu",
            "role": "library",
            "lib": "cityu",
            "exp": int(tokens.clock.now().timestamp()) + 600,
        },
        DEV_SECRET,
        algorithm="HS256",
    )
    res = await cityu.get("/api/v1/items", headers=bearer(forged))
    assert res.status_code == 401
    assert "not meant for this service" in res.json()["detail"]


async def test_unsigned_or_badly_signed_token_gets_401(cityu):
    claims = {
        "iss": "illfed",
        "sub": "cityu",
        "aud": "illfed:circulation:cityu",
        "role": "library",
        "lib": "cityu",
        "exp": 4102444800,
    }
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    wrong_key = jwt.encode(claims, "somebody-elses-secret-of-enough-length", algorithm="HS256")
    for token in (unsigned, wrong_key):
        res = await cityu.get("/api/v1/items", headers=bearer(token))
        assert res.status_code == 401


async def test_library_a_touching_library_b_items_gets_403(cityu):
    own = await token_for(cityu, "cityu")
    created = (await cityu.post("/api/v1/items", json=BOOK, headers=bearer(own))).json()
    other = await token_for(cityu, "hkbu")  # hkbu's credentials, presented to cityu's service
    res = await cityu.post(
        f"/api/v1/items/{created['id']}/status", json={"status": "MISSING"}, headers=bearer(other)
    )
    assert res.status_code == 403
    assert res.headers["content-type"].startswith(PROBLEM)
    res = await cityu.get(f"/api/v1/items/{created['id']}", headers=bearer(other))
    assert res.status_code == 403


async def test_operator_may_look_but_client_secret_is_per_client(cityu):
    op = await token_for(cityu, "operator")
    assert (await cityu.get("/api/v1/items", headers=bearer(op))).status_code == 200
    assert client_secret(DEV_SECRET, "cityu") != client_secret(DEV_SECRET, "hkbu")


async def test_an_operator_looks_at_the_items_but_neither_adds_nor_withdraws_one(cityu):
    own = bearer(await token_for(cityu, "cityu"))
    item = (await cityu.post("/api/v1/items", json=BOOK, headers=own)).json()
    op = bearer(await token_for(cityu, "operator"))
    res = await cityu.post("/api/v1/items", json={**BOOK, "barcode": "OP0001"}, headers=op)
    assert res.status_code == 403 and res.headers["content-type"].startswith(PROBLEM)
    res = await cityu.post(
        f"/api/v1/items/{item['id']}/status", json={"status": "WITHDRAWN"}, headers=op
    )
    assert res.status_code == 403
    assert (await cityu.get(f"/api/v1/items/{item['id']}", headers=op)).json()["status"] == (
        "AVAILABLE"
    )
    listing = (await cityu.get("/api/v1/items", headers=op)).json()["items"]
    assert [i["barcode"] for i in listing] == [BOOK["barcode"]]
