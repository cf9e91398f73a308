"""Assembling the union catalogue."""

from __future__ import annotations

from libs.common.clock import Clock
from libs.common.contracts import ItemChanged
from libs.common.db import make_engine
from libs.common.federation import Federation
from libs.common.messaging.consumer import Consumer, Handlers
from libs.common.messaging.delivery import Bus
from libs.common.messaging.topology import CATALOG_QUEUE
from libs.common.service import ServiceRuntime
from services.catalog.adapters.consumer import on_item_changed
from services.catalog.adapters.libraries import federation_libraries
from services.catalog.adapters.tables import inbox

#: what the catalogue's queue takes, by contract class (its bindings come from here)
HANDLERS: Handlers = {ItemChanged: on_item_changed}


def build_runtime(fed: Federation, database_url: str, bus: Bus, clock: Clock) -> ServiceRuntime:
    engine = make_engine(database_url)
    rt = ServiceRuntime(name="catalog", principal="catalog", engine=engine, bus=bus, clock=clock)
    # The federation this unit was started with (its --federation file), not the default
    # one: a library it meets first in an item change is numbered with its consortium.
    members = federation_libraries(fed)
    rt.consumers.append(
        Consumer(
            "catalog",
            CATALOG_QUEUE,
            engine,
            inbox,
            bus,
            clock,
            HANDLERS,
            allowed_senders=members.__contains__,
            context=members,
        )
    )
    rt.extras["federation"] = fed
    return rt
