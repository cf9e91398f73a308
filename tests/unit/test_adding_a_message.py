"""Adding a message type and its consumer takes three places: the contract, the handler, and
one registration in the consumer's handler map. The queue's binding, the broker definitions
and the consumer's dispatch all follow from that map; nothing else is written by hand."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, MetaData, String, Table, select

from deploy.queues import federation_queues
from libs.common.clock import ManualClock
from libs.common.contracts import registry
from libs.common.db import make_engine, sqlite_url, unit_of_work
from libs.common.federation import default_federation
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import OutboxRelay, send
from libs.common.messaging.tables import messaging_tables
from libs.common.messaging.topology import CATALOG_QUEUE, EVENTS, ConsumerQueue
from services.catalog import runtime as catalog

metadata = MetaData()
outbox, inbox = messaging_tables(metadata)
tidied = Table("tidied", metadata, Column("shelf", String(40), primary_key=True))


@pytest.fixture
def new_message(monkeypatch):
    """The new message type, its handler and its registration, undone after the test."""
    # The contract registry is the process's; the test's contract leaves it as it found it.
    monkeypatch.setattr(registry, "_CONTRACTS", dict(registry.all_contracts()))

    # 1. The contract: its name, version and kind, declared once.
    @registry.contract("shelf.tidied", 1, "event")
    class ShelfTidied(BaseModel):
        model_config = ConfigDict(extra="forbid")
        library: str
        shelf: str

    # 2. The handler: what the consumer does with it, in the consumer's transaction.
    async def on_shelf_tidied(conn, _ctx, _env, payload: ShelfTidied) -> None:
        await conn.execute(tidied.insert().values(shelf=payload.shelf))

    # 3. The one registration: an entry in the catalogue's handler map.
    monkeypatch.setitem(catalog.HANDLERS, ShelfTidied, on_shelf_tidied)
    return ShelfTidied


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "catalog.db"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_a_new_event_with_its_handler_is_bound_and_delivered_from_one_registration(
    new_message, engine
):
    fed = default_federation()
    specs = {spec.name: spec for spec in federation_queues(fed)}
    # The binding comes from the handler map: nobody listed it in the topology.
    assert (EVENTS, "shelf.tidied") in specs[CATALOG_QUEUE].bindings
    assert (EVENTS, "item.changed") in specs[CATALOG_QUEUE].bindings

    broker = MemoryBroker()
    broker.declare(list(specs.values()))
    clock = ManualClock()
    library = fed.libraries[0].code
    async with unit_of_work(engine) as conn:
        await send(
            conn,
            outbox,
            new_message(library=library, shelf="A-12"),
            sender=library,
            correlation_id="tidy-1",
            causation_id=None,
            clock=clock,
        )
    assert await OutboxRelay(engine, outbox, broker.handle(library), clock).drain() == 1

    consumer = Consumer(
        "catalog",
        CATALOG_QUEUE,
        engine,
        inbox,
        broker.handle("catalog"),
        clock,
        catalog.HANDLERS,
        allowed_senders={lib.code for lib in fed.libraries}.__contains__,
    )
    await consumer.start()
    for _ in range(200):
        if broker.depth(CATALOG_QUEUE) == 0:
            break
        await asyncio.sleep(0.01)
    await consumer.stop()
    async with engine.connect() as conn:
        assert (await conn.execute(select(tidied.c.shelf))).scalars().all() == ["A-12"]
    assert broker.peek(f"{CATALOG_QUEUE}.dlq") == []


def test_a_command_reaches_a_queue_by_its_address_and_only_an_addressed_queue_takes_one(
    monkeypatch,
):
    monkeypatch.setattr(registry, "_CONTRACTS", dict(registry.all_contracts()))

    @registry.contract("shelf.tidy", 1, "command")
    class TidyShelf(BaseModel):
        shelf: str

    addressed = ConsumerQueue("requests.inbox", "requests", "requests").spec([TidyShelf])
    assert addressed.bindings == (("illfed.commands", "requests"),)
    with pytest.raises(ValueError, match=r"handles the command shelf\.tidy but has no address"):
        ConsumerQueue(CATALOG_QUEUE, "catalog").spec([TidyShelf])
