"""Assembling one library's circulation service."""

from __future__ import annotations

from libs.common.clock import Clock
from libs.common.db import make_engine
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.messaging.topology import circulation_address
from libs.common.service import ServiceRuntime
from services.circulation.adapters.tables import inbox, outbox


def build_runtime(library: str, database_url: str, bus: Bus, clock: Clock) -> ServiceRuntime:
    engine = make_engine(database_url)
    rt = ServiceRuntime(
        name=f"circulation:{library}",
        principal=library,
        engine=engine,
        bus=bus,
        clock=clock,
        relay=OutboxRelay(engine, outbox, bus, clock),
    )
    rt.extras["library"] = library
    rt.consumers.append(
        Consumer(
            f"circulation.{library}",
            f"{circulation_address(library)}.inbox",
            engine,
            inbox,
            bus,
            clock,
            handlers={},
        )
    )
    return rt
