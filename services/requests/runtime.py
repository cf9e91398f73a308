"""Assembling the consortium's request broker: its consumer of ILL messages from member
libraries, the dead-letter collector, the lender-timeout and routing-retry jobs, and the
outbox relay. The catalogue client is injectable (tests hand it the catalogue's app)."""

from __future__ import annotations

from libs.common.catalogue_client import CatalogueClient, catalogue_url
from libs.common.clock import Clock
from libs.common.db import make_engine
from libs.common.federation import Federation
from libs.common.messaging.consumer import Consumer
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.messaging.topology import federation_consumers
from libs.common.service import PeriodicJob, ServiceRuntime
from services.requests.adapters.dead_letters import DeadLetterCollector
from services.requests.adapters.tables import inbox, outbox
from services.requests.handlers import jobs
from services.requests.handlers.context import Broker, broker_context
from services.requests.handlers.ill_messages import HANDLERS

# Seconds of real time between runs; the jobs read the time from the clock.
LENDER_TIMEOUTS_EVERY = 300.0
ROUTING_RETRY_EVERY = 30.0


#: seconds the broker waits for the catalogue when routing
ROUTING_CATALOGUE_TIMEOUT = 2.0


def build_runtime(
    fed: Federation,
    database_url: str,
    bus: Bus,
    clock: Clock,
    *,
    catalogue: CatalogueClient | None = None,
) -> ServiceRuntime:
    engine = make_engine(database_url, generic_plans=True)
    rt = ServiceRuntime(
        name="requests",
        principal="requests",
        engine=engine,
        bus=bus,
        clock=clock,
        relay=OutboxRelay(engine, outbox, bus, clock),
    )
    # The broker asks the catalogue while it holds the transaction (its consumer's database
    # transaction, the row locked): a catalogue slower than this is taken as away, and the
    # request waits in Routing for the retry job rather than holding the lock for long.
    client = catalogue or CatalogueClient(catalogue_url(fed), timeout=ROUTING_CATALOGUE_TIMEOUT)
    if catalogue is None:
        rt.components.append(client)  # its kept connections closed when the broker stops
    ctx = broker_context(fed, clock, client)
    rt.extras["broker"] = ctx
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
            context=ctx,
        )
    )
    # A component, not a Consumer: it parks whatever reaches a dead-letter queue, with no
    # contract to check; readiness asks it which queues it reads (``consuming``).
    rt.components.append(
        DeadLetterCollector(engine, bus, clock, [q.dlq for q in federation_consumers(fed)])
    )
    rt.jobs.extend(_jobs(rt, ctx))
    return rt


def _jobs(rt: ServiceRuntime, ctx: Broker) -> list[PeriodicJob]:
    async def skip_silent_lenders() -> int:
        return await jobs.skip_silent_lenders(rt.engine, ctx)

    async def retry_routing() -> int:
        return await jobs.retry_routing(rt.engine, ctx)

    return [
        PeriodicJob("ill-lender-timeouts", skip_silent_lenders, LENDER_TIMEOUTS_EVERY),
        PeriodicJob("ill-routing-retry", retry_routing, ROUTING_RETRY_EVERY),
    ]
