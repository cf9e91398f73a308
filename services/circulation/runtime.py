"""Assembling one library's circulation service: its library context (policy, clock, hasher,
service points), the consumer of its queue, its periodic jobs and its outbox relay.

Everything a handler, a route or a job is given comes from here; ``create_app`` only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.common.catalogue_client import CatalogueClient, catalogue_url
from libs.common.clock import Clock
from libs.common.contracts.ill import (
    IllCardLost,
    IllError,
    IllRequest,
    IllRequesterMessage,
    IllRouting,
    IllSupplierMessage,
)
from libs.common.db import make_engine, unit_of_work
from libs.common.federation import Federation, default_federation
from libs.common.messaging.consumer import Consumer, Handlers
from libs.common.messaging.delivery import Bus
from libs.common.messaging.outbox import OutboxRelay
from libs.common.messaging.topology import circulation_address
from libs.common.policy import load_policy
from libs.common.service import PeriodicJob, ServiceRuntime
from services.circulation.adapters.tables import inbox, outbox
from services.circulation.domain.hashing import SecretHasher
from services.circulation.handlers import card_losses, ill_errors, ill_lending_charges
from services.circulation.handlers import holds as hold_handlers
from services.circulation.handlers import ill_borrowing as ill_borrowing_handlers
from services.circulation.handlers import ill_lending as ill_lending_handlers
from services.circulation.handlers import ill_loss as ill_loss_handlers
from services.circulation.handlers import overdue as overdue_handlers
from services.circulation.handlers.context import Library

PICKUP_EXPIRY_EVERY = 3600.0  # seconds of real time; the job reads the day from the clock
# Hourly although the schedule is daily: a run finds nothing new until the library day
# changes, and a service started late in the day still sends that day's reminders.
OVERDUE_NOTICES_EVERY = 3600.0
#: the only sender a library takes messages from: every ILL message comes through the broker
BROKER = "requests"


def library_context(
    code: str, fed: Federation, clock: Clock, hasher: SecretHasher | None = None
) -> Library:
    """The library's policy (its consortium's), clock, hasher and service points."""
    policy = load_policy(fed.consortium_of(code).policy)
    auto_accept = fed.library(code).ill_auto_accept
    if auto_accept is not None:
        # This library answers its lending requests its own way (staff decide, or at once).
        ill = policy.ill.model_copy(update={"auto_accept": auto_accept})
        policy = policy.model_copy(update={"ill": ill})
    return Library(
        code=code,
        policy=policy,
        clock=clock,
        hasher=hasher or SecretHasher(),
        service_points={sp.code: sp.name for sp in fed.library(code).service_points},
        peers=frozenset(
            lib.code for lib in fed.members(fed.library(code).consortium) if lib.code != code
        ),
    )


@dataclass
class CirculationRuntime(ServiceRuntime):
    """A circulation service's runtime, with the library every handler works for."""

    lib: Library | None = None

    @property
    def library(self) -> Library:
        assert self.lib is not None, "built by build_runtime"
        return self.lib


#: the messages a library's queue takes, by contract class (the ILL flows add theirs)
HANDLERS: dict = {}

# ILL, the requester's side (this library's patrons borrow): the broker's routing news and
# the lender's messages, applied in the broker's seq order; the broker's refusals of what
# this library sent, recorded in the request's history.
ILL_BORROWING_EVERY = 3600.0  # seconds of real time; the job reads the day from the clock
HANDLERS.update(
    {
        IllRouting: ill_borrowing_handlers.on_broker_message,
        IllSupplierMessage: ill_borrowing_handlers.on_broker_message,
        # The broker's refusals of what this library sent, on either side of a transaction.
        IllError: ill_errors.on_error_message,
    }
)


def _ill_borrowing_jobs(rt: CirculationRuntime) -> list[PeriodicJob]:
    lib = rt.library

    async def expire_ill_pickups() -> int:
        # HKALL-06: not picked up by the deadline: back to the lender, no notice
        async with unit_of_work(rt.engine) as conn:
            return await ill_borrowing_handlers.expire_pickups(conn, lib)

    return [PeriodicJob("ill-pickup-expiry", expire_ill_pickups, ILL_BORROWING_EVERY)]


# The lender's side of inter-library loans (handlers/ill_lending.py).
HANDLERS.update(
    {
        IllRequest: ill_lending_handlers.on_request,
        IllRequesterMessage: ill_lending_handlers.on_requester_message,
    }
)

# MALA-12: a borrower's lost card of this library, reported by the borrower's home library.
HANDLERS[IllCardLost] = card_losses.on_card_lost


# After the checkout (ILL.md): hourly, like the overdue notices, since each reads its day
# from the clock and finds nothing new until the library day changes.
LOAN_STANDING_EVERY = 3600.0


def _loan_standing_jobs(rt: CirculationRuntime) -> list[PeriodicJob]:
    lib = rt.library

    async def assumed_lost() -> int:
        # HKALL-19, MALA-09: treated as lost; an ILL loan's lender is told Lost
        async with unit_of_work(rt.engine) as conn:
            return await ill_loss_handlers.mark_assumed_lost(conn, lib)

    async def suspensions_lifted() -> int:
        # HKALL-18, HKALL-19: the condition cleared, the patron told once
        async with unit_of_work(rt.engine) as conn:
            return len((await ill_loss_handlers.send_liftings(conn, lib)).sent)

    async def lendings_overdue() -> int:
        # this library as the lender: its copies out past the due date are Overdue
        async with unit_of_work(rt.engine) as conn:
            return await ill_lending_charges.mark_overdue(conn, lib)

    return [
        PeriodicJob("assumed-lost", assumed_lost, LOAN_STANDING_EVERY),
        PeriodicJob("suspension-lifted", suspensions_lifted, LOAN_STANDING_EVERY),
        PeriodicJob("ill-lending-overdue", lendings_overdue, LOAN_STANDING_EVERY),
    ]


def _jobs(rt: CirculationRuntime) -> list[PeriodicJob]:
    lib = rt.library

    async def expire_pickups() -> int:
        async with unit_of_work(rt.engine) as conn:
            return await hold_handlers.expire_pickups(conn, lib)

    async def send_overdue_notices() -> int:
        async with unit_of_work(rt.engine) as conn:
            return len((await overdue_handlers.send_overdue_notices(conn, lib)).sent)

    return [
        PeriodicJob("hold-pickup-expiry", expire_pickups, PICKUP_EXPIRY_EVERY),
        PeriodicJob("overdue-notices", send_overdue_notices, OVERDUE_NOTICES_EVERY),
    ]


def build_runtime(
    library: str,
    database_url: str,
    bus: Bus,
    clock: Clock,
    *,
    fed: Federation | None = None,
    hasher: SecretHasher | None = None,
    handlers: Handlers | None = None,
    catalogue: CatalogueClient | None = None,
) -> CirculationRuntime:
    fed = fed or default_federation()
    engine = make_engine(database_url, generic_plans=True)
    lib = library_context(library, fed, clock, hasher)
    rt = CirculationRuntime(
        name=f"circulation:{library}",
        principal=library,
        engine=engine,
        bus=bus,
        clock=clock,
        relay=OutboxRelay(engine, outbox, bus, clock),
        lib=lib,
    )
    rt.consumers.append(
        Consumer(
            f"circulation.{library}",
            f"{circulation_address(library)}.inbox",
            engine,
            inbox,
            bus,
            clock,
            HANDLERS if handlers is None else handlers,
            allowed_senders={BROKER}.__contains__,
            context=lib,
        )
    )
    rt.jobs.extend(_jobs(rt))
    # ILL requests look the record up in the union catalogue (tests hand in their own).
    rt.extras["catalogue"] = catalogue or CatalogueClient(catalogue_url(fed))
    if catalogue is None:
        rt.components.append(rt.extras["catalogue"])  # its connections closed at stop
    rt.jobs.extend(_ill_borrowing_jobs(rt))
    rt.jobs.extend(_loan_standing_jobs(rt))
    return rt
