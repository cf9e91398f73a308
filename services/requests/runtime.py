"""Assembling the consortium's request broker."""

from __future__ import annotations

from libs.common.clock import Clock
from libs.common.db import make_engine
from libs.common.federation import Federation
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.messaging.topology import federation_consumers
from libs.common.service import ServiceRuntime
from services.requests.adapters.dead_letters import DeadLetterCollector
from services.requests.adapters.tables import inbox, outbox

#: the messages the broker's queue takes, by contract class (the ILL flows add theirs)
HANDLERS: dict = {}


def build_runtime(fed: Federation, database_url: str, bus: Bus, clock: Clock) -> ServiceRuntime:
    engine = make_engine(database_url)
    rt = ServiceRuntime(
        name="requests",
        principal="requests",
        engine=engine,
        bus=bus,
        clock=clock,
        relay=OutboxRelay(engine, outbox, bus, clock),
    )
    libraries = {lib.code for lib in fed.libraries}
    rt.consumers.append(
        Consumer(
            "requests",
            "requests.inbox",
            engine,
            inbox,
            bus,
            clock,
            HANDLERS,
            allowed_senders=libraries.__contains__,
        )
    )
    # A component, not a Consumer: it parks whatever reaches a dead-letter queue, with no
    # contract to check; readiness asks it which queues it reads (``consuming``).
    rt.components.append(
        DeadLetterCollector(engine, bus, clock, [q.dlq for q in federation_consumers(fed)])
    )
    return rt
