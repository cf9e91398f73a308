"""Assembling the union catalogue."""

from __future__ import annotations

from libs.common.clock import Clock
from libs.common.contracts import ItemChanged
from libs.common.db import make_engine
from libs.common.federation import Federation
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.service import ServiceRuntime
from services.catalog.adapters.consumer import on_item_changed
from services.catalog.adapters.tables import inbox


def build_runtime(fed: Federation, database_url: str, bus: Bus, clock: Clock) -> ServiceRuntime:
    engine = make_engine(database_url)
    rt = ServiceRuntime(name="catalog", principal="catalog", engine=engine, bus=bus, clock=clock)
    libraries = {lib.code for lib in fed.libraries}
    rt.consumers.append(
        Consumer(
            "catalog",
            "catalog.items",
            engine,
            inbox,
            bus,
            clock,
            {ItemChanged: on_item_changed},
            allowed_senders=libraries.__contains__,
        )
    )
    rt.extras["federation"] = fed
    return rt
