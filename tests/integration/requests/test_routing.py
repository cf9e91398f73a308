"""The broker routes a request to a lender of the requester's consortium that holds an
AVAILABLE copy by the catalogue, the one with the fewest open lending transactions; an
Unfilled moves it to the next; with nobody left the requester hears the end of the rota."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.pg


async def asked(world, txn: str) -> str:
    doc = await world.transaction(txn)
    assert doc["state"] == "ExpectToSupply", doc
    return doc["current_lender"]


async def test_a_request_goes_to_the_lender_with_the_fewest_open_transactions(world):
    # hku lends one book already, hkbu one too; cuhk none: cuhk is asked
    only_hku = await world.catalogue_record("hku")
    first = world.request("eduhk", only_hku)
    await world.say("eduhk", first)
    assert await asked(world, first.transaction_id) == "hku"
    hku_or_hkbu = await world.catalogue_record("hku", "hkbu")
    second = world.request("eduhk", hku_or_hkbu)
    await world.say("eduhk", second)
    assert await asked(world, second.transaction_id) == "hkbu"

    anyone = await world.catalogue_record("hku", "hkbu", "cuhk", "eduhk")
    third = world.request("eduhk", anyone)
    await world.say("eduhk", third)
    txn = third.transaction_id
    assert await asked(world, txn) == "cuhk"

    [request] = world.received("cuhk", txn, "ill.request")
    assert request.payload["supplier"] == "cuhk"
    assert request.payload["lender_items"] == [
        i for i in request.payload["lender_items"] if i.startswith("cuhk-")
    ]
    assert request.payload["lender_items"]
    # the lender's patron reference is its own, not the home library's
    assert request.payload["patron"]["ref"] != third.patron.ref
    assert request.causation_id is not None
    [routing] = world.received("eduhk", txn, "ill.routing")
    assert routing.payload["lender"] == "cuhk" and routing.payload["end_of_rota"] is False
    assert not world.received("hku", txn) and not world.received("hkbu", txn)


async def test_two_lenders_never_see_the_same_patron_reference(world):
    record = await world.catalogue_record("hku", "hkbu")
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    first = await asked(world, txn)
    await world.lender_says(
        first, txn, "Unfilled", refusal={"rule": "HKALL-02", "reason": "on loan"}
    )
    second = await asked(world, txn)
    assert {first, second} == {"hku", "hkbu"}
    refs = {
        world.received(lib, txn, "ill.request")[0].payload["patron"]["ref"]
        for lib in (first, second)
    }
    assert len(refs) == 2 and req.patron.ref not in refs


async def test_unfilled_moves_the_request_to_the_next_lender_and_the_requester_is_told(world):
    record = await world.catalogue_record("hku", "hkbu")
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    first = await asked(world, txn)
    await world.lender_says(
        first, txn, "Unfilled", refusal={"rule": "HKALL-02", "reason": "on loan"}
    )
    second = await asked(world, txn)
    assert second != first

    routings = [e.payload for e in world.received("eduhk", txn, "ill.routing")]
    assert routings[-1]["lender"] == second
    assert routings[-1]["previous"] == first and routings[-1]["previous_outcome"] == "declined"
    # the lender's Unfilled is not passed on as a status: the request is not over
    assert not world.received("eduhk", txn, "ill.supplier_message")
    assert [e.payload["seq"] for e in world.received("eduhk", txn)] == [1, 2]

    await world.lender_says(second, txn, "WillSupply")
    doc = await world.transaction(txn)
    assert doc["state"] == "WillSupply"
    assert [(t["lender"], t["outcome"]) for t in doc["lenders_tried"]] == [
        (first, "declined"),
        (second, "supplying"),
    ]
    [forwarded] = world.received("eduhk", txn, "ill.supplier_message")
    assert forwarded.payload["status"] == "WillSupply" and forwarded.payload["seq"] == 3


async def test_with_nobody_left_the_requester_hears_the_end_of_the_rota(world):
    record = await world.catalogue_record("hku", "cuhk:ON_LOAN")
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    assert await asked(world, txn) == "hku"  # cuhk's copy is not AVAILABLE
    await world.lender_says("hku", txn, "Unfilled", refusal={"reason": "missing from the shelf"})

    doc = await world.transaction(txn)
    assert doc["state"] == "Unfilled" and doc["current_lender"] is None
    last = world.received("eduhk", txn, "ill.routing")[-1].payload
    assert last["end_of_rota"] is True and last["lender"] is None
    assert last["previous"] == "hku" and last["previous_outcome"] == "declined"
    assert not world.received("cuhk", txn)


async def test_MALA_07_a_mala_request_is_never_routed_to_an_hkall_library(world):
    """MALA-07: MALA requests go through MALA to MALA members only, even when HKALL
    libraries hold AVAILABLE copies and have fewer open transactions."""
    record = await world.catalogue_record("hku", "hkbu", "cuhk", "mpu", "usj")
    seen = set()
    for _ in range(3):
        req = world.request("um", record)
        await world.say("um", req)
        seen.add(await asked(world, req.transaction_id))
    assert seen <= {"mpu", "usj"} and seen

    hkall_only = await world.catalogue_record("hku", "hkbu")
    req = world.request("um", hkall_only)
    await world.say("um", req)
    doc = await world.transaction(req.transaction_id)
    assert doc["state"] == "Unfilled"
    assert world.received("um", req.transaction_id, "ill.routing")[-1].payload["end_of_rota"]
    for hkall in ("hku", "hkbu", "cuhk"):
        assert not world.received(hkall, req.transaction_id)


async def test_MALA_07_a_library_cannot_ask_through_another_consortium(world):
    record = await world.catalogue_record("hku")
    req = world.request("um", record, consortium="HKALL")
    await world.say("um", req)
    [error] = world.received("um", req.transaction_id, "ill.error")
    assert "MALA-07" in error.payload["reason"]
    assert not world.received("hku", req.transaction_id)


async def test_while_the_catalogue_is_away_the_request_waits_and_is_routed_once_it_is_back(world):
    record = await world.catalogue_record("hkbu")
    world.link.up = False
    req = world.request("eduhk", record)
    txn = req.transaction_id
    await world.say("eduhk", req)
    doc = await world.transaction(txn)
    assert doc["state"] == "Routing" and "awaiting_catalogue" in doc["flags"]
    assert await world.run_job("ill-routing-retry") == 0  # still away: still waiting
    assert (await world.transaction(txn))["state"] == "Routing"
    assert not world.received("hkbu", txn)

    world.link.up = True
    assert await world.run_job("ill-routing-retry") == 1
    doc = await world.transaction(txn)
    assert doc["state"] == "ExpectToSupply" and doc["current_lender"] == "hkbu"
    assert doc["flags"] == []
    assert world.received("hkbu", txn, "ill.request")
