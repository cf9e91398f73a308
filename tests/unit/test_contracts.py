"""Each message is declared once: its contract says name, version and kind; the outbox routes
by the kind and the AsyncAPI document groups by it, with an example of each ILL message that
the contract itself accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.clock import ManualClock
from libs.common.contracts import IllRequest, IllSupplierMessage, ItemChanged, NoticeRequested
from libs.common.contracts.registry import all_contracts, kind_of
from libs.common.contracts.schema import asyncapi
from libs.common.messaging.outbox import send
from libs.common.messaging.tables import shared_tables
from libs.common.messaging.topology import COMMANDS, EVENTS

ILL_TYPES = [
    "ill.request",
    "ill.supplier_message",
    "ill.requester_message",
    "ill.routing",
    "ill.error",
    "ill.card_lost",
]


def test_every_contract_has_a_kind_and_sits_on_its_kinds_channel():
    doc = asyncapi()
    events, commands = (set(doc["channels"][c]["messages"]) for c in (EVENTS, COMMANDS))
    for (name, version), model in all_contracts().items():
        key = f"{name}.v{version}"
        assert key in (events if kind_of(model) == "event" else commands), key
    assert "item.changed.v1" in events and "notice.requested.v1" in commands


@pytest.mark.parametrize("type_name", ILL_TYPES)
def test_ill_contracts_are_documented_with_an_example_the_contract_accepts(type_name):
    doc = asyncapi()
    message = doc["components"]["messages"][f"{type_name}.v1"]
    assert message["examples"], f"{type_name} has no example"
    model = all_contracts()[(type_name, 1)]
    for example in message["examples"]:
        model.model_validate(example["payload"])


def test_the_committed_asyncapi_document_is_current():
    committed = json.loads(Path("docs/asyncapi.json").read_text())
    assert committed == json.loads(json.dumps(asyncapi())), "run `make docs`"


def test_ill_contracts_refuse_unknown_fields():
    example = asyncapi()["components"]["messages"]["ill.request.v1"]["examples"][0]["payload"]
    with pytest.raises(ValidationError):
        IllRequest.model_validate({**example, "patron_name": "Chan Tai Man"})
    with pytest.raises(ValidationError):
        IllRequest.model_validate({**example, "patron": {**example["patron"], "email": "a@b.hk"}})


async def test_send_routes_an_event_by_type_and_a_command_to_its_recipient():
    engine = create_async_engine("sqlite+aiosqlite://")
    outbox, _, _ = shared_tables(metadata := MetaData())
    clock = ManualClock()
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        item = ItemChanged(
            library="cityu",
            item_id="i1",
            version=1,
            change="added",
            status="AVAILABLE",
            material_type="book",
        )
        await send(
            conn, outbox, item, sender="cityu", correlation_id="i1", causation_id=None, clock=clock
        )
        example = asyncapi()["components"]["messages"]["ill.supplier_message.v1"]["examples"][0]
        msg = IllSupplierMessage.model_validate(example["payload"])
        await send(
            conn,
            outbox,
            msg,
            sender="hku",
            recipient="requests",
            correlation_id=msg.transaction_id,
            causation_id="m-1",
            clock=clock,
        )
        with pytest.raises(ValueError, match="is an event"):
            await send(
                conn,
                outbox,
                item,
                sender="cityu",
                recipient="requests",
                correlation_id="i1",
                causation_id=None,
                clock=clock,
            )
        notice = NoticeRequested(
            notice_id="n", kind="fine", library="cityu", patron_ref="p", email="a@b.hk"
        )
        with pytest.raises(ValueError, match="needs a recipient"):
            await send(
                conn,
                outbox,
                notice,
                sender="cityu",
                correlation_id="p",
                causation_id=None,
                clock=clock,
            )
        rows = (
            await conn.execute(select(outbox.c.exchange, outbox.c.routing_key, outbox.c.body))
        ).all()
    await engine.dispose()
    assert [(r.exchange, r.routing_key) for r in rows] == [
        (EVENTS, "item.changed"),
        (COMMANDS, "requests"),
    ]
    assert json.loads(rows[1].body)["causation_id"] == "m-1"
