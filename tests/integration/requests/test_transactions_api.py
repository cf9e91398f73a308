"""``/api/v1/transactions``: operators see every transaction, a library only those it is
requester or current lender of; stuck ones are found with who they wait for; pages by
cursor; problem+json refusals."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.pg


async def _ids(client, **params) -> list[str]:
    res = await client.get("/api/v1/transactions", params=params)
    assert res.status_code == 200, res.text
    return [t["id"] for t in res.json()["items"]]


async def test_a_library_sees_only_the_transactions_it_is_party_to(world):
    record = await world.catalogue_record("hku")
    mine = world.request("eduhk", record)
    await world.say("eduhk", mine)
    theirs = world.request("cityu", await world.catalogue_record("hkbu"))
    await world.say("cityu", theirs)

    async with world.client("library", "eduhk") as eduhk:
        assert await _ids(eduhk) == [mine.transaction_id]
        res = await eduhk.get(f"/api/v1/transactions/{theirs.transaction_id}")
        assert res.status_code == 404
        assert res.headers["content-type"].startswith("application/problem+json")
        res = await eduhk.get("/api/v1/transactions", params={"library": "cityu"})
        assert res.status_code == 403
        assert res.headers["content-type"].startswith("application/problem+json")
        detail = (await eduhk.get(f"/api/v1/transactions/{mine.transaction_id}")).json()
        assert detail["patron_ref"] == mine.patron.ref
    async with world.client("library", "hku") as hku:
        assert await _ids(hku) == [mine.transaction_id]  # it is the lender asked
        detail = (await hku.get(f"/api/v1/transactions/{mine.transaction_id}")).json()
        # the lender sees the reference it was sent, not the home library's
        sent = world.received("hku", mine.transaction_id, "ill.request")[0]
        assert detail["patron_ref"] == sent.payload["patron"]["ref"] != mine.patron.ref
        assert [h["side"] for h in detail["sides"]["requester"]] == ["requester"]
    async with world.client("operator") as op:
        both = {mine.transaction_id, theirs.transaction_id}
        assert set(await _ids(op)) == both
        assert await _ids(op, library="cityu") == [theirs.transaction_id]
    async with world.client("patron", "eduhk") as patron:
        assert (await patron.get("/api/v1/transactions")).status_code == 403


async def test_stuck_transactions_name_the_party_waited_for(world):
    txn_record = await world.catalogue_record("hku")
    req = world.request("eduhk", txn_record)
    await world.say("eduhk", req)
    await world.lender_says("hku", req.transaction_id, "WillSupply")
    async with world.client("operator") as op:
        assert await _ids(op, stuck="true") == []
    world.clock.advance(days=8)  # the lender said WillSupply and has not shipped
    async with world.client("operator") as op:  # a token of the new day
        res = await op.get("/api/v1/transactions", params={"stuck": "true", "state": "WillSupply"})
        [item] = res.json()["items"]
        assert item["id"] == req.transaction_id
        assert item["stuck"]["stuck"] is True and item["stuck"]["party"] == "hku"
        res = await op.get("/api/v1/transactions", params={"state": "Nonsense"})
        assert res.status_code == 422


async def test_pages_follow_the_cursor_without_repeats(world):
    record = await world.catalogue_record("hku", "hkbu")
    made = set()
    for _ in range(5):
        req = world.request("eduhk", record)
        await world.say("eduhk", req)
        made.add(req.transaction_id)
    seen: list[str] = []
    async with world.client("operator") as op:
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await op.get("/api/v1/transactions", params=params)).json()
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


async def test_the_transactions_api_is_in_the_openapi_document(world):
    paths = world.app.openapi()["paths"]
    assert "get" in paths["/api/v1/transactions"]
    assert "get" in paths["/api/v1/transactions/{transaction_id}"]


async def test_a_party_waits_for_a_state_instead_of_polling(world):
    """``GET /api/v1/transactions/{id}?until=WillSupply&wait=15`` is answered as soon as the
    broker has taken the lender's WillSupply (its commit wakes the request; the periodic
    re-read is off here), with the state then once the wait is over when that state does not
    come; one not known (yet) to the caller is a 404 once the wait is over."""
    import asyncio

    world.runtime.changes.recheck = 60.0
    req = world.request("eduhk", await world.catalogue_record("hku"))
    await world.say("eduhk", req)
    path = f"/api/v1/transactions/{req.transaction_id}"
    async with world.client("library", "eduhk") as eduhk:
        waiting = asyncio.create_task(eduhk.get(path, params={"until": "WillSupply", "wait": 15}))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await world.lender_says("hku", req.transaction_id, "WillSupply")
        res = await asyncio.wait_for(waiting, 10)
        assert (res.status_code, res.json()["state"]) == (200, "WillSupply"), res.text

        res = await eduhk.get(path, params={"until": "LoanCompleted", "wait": 0.3})
        assert (res.status_code, res.json()["state"]) == (200, "WillSupply")
        res = await eduhk.get(path, params={"until": "Nonsense"})
        assert res.status_code == 422
    async with world.client("library", "cityu") as cityu:  # not a party to it
        res = await cityu.get(path, params={"until": "WillSupply", "wait": 0.3})
        assert res.status_code == 404
