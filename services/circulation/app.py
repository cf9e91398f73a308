"""The circulation service of one member library: the authority over its items and patrons."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.auth import Principal
from libs.common.clock import Clock
from libs.common.db import unit_of_work
from libs.common.federation import Federation
from libs.common.policy import load_policy
from libs.common.service import PeriodicJob, ServiceRuntime, create_service_app
from services.circulation.api import (
    charges,
    holds,
    items,
    loans,
    overdue,
    patrons,
    self_service,
)
from services.circulation.api.common import install_circulation_errors
from services.circulation.domain.hashing import SecretHasher
from services.circulation.handlers import holds as hold_handlers
from services.circulation.handlers import overdue as overdue_handlers
from services.circulation.handlers import sessions
from services.circulation.handlers.context import Library

PICKUP_EXPIRY_EVERY = 3600.0  # seconds of real time; the job reads the day from the clock
# Hourly although the schedule is daily: a run finds nothing new until the library day
# changes, and a service started late in the day still sends that day's reminders.
OVERDUE_NOTICES_EVERY = 3600.0


def audience(library: str) -> str:
    return f"illfed:circulation:{library}"


def library_context(
    code: str, fed: Federation, clock: Clock, hasher: SecretHasher | None = None
) -> Library:
    """The library's policy (its consortium's), clock, hasher and service points."""
    return Library(
        code=code,
        policy=load_policy(fed.consortium_of(code).policy),
        clock=clock,
        hasher=hasher or SecretHasher(),
        service_points={sp.code: sp.name for sp in fed.library(code).service_points},
    )


def create_app(
    runtime: ServiceRuntime, fed: Federation, secret_key: str, token_ttl: int = 3600
) -> FastAPI:
    library = runtime.extras["library"]
    name = fed.library(library).name
    app = create_service_app(
        runtime,
        title=f"illfed circulation — {name}",
        audience=audience(library),
        fed=fed,
        secret_key=secret_key,
        token_ttl=token_ttl,
        description=f"Circulation service of {name}: items, patrons, loans, holds and fines.",
    )
    lib = library_context(
        library,
        fed,
        runtime.clock,
        runtime.extras.get("hasher"),  # type: ignore[arg-type]
    )
    app.state.circulation = lib

    async def session_live(principal: Principal) -> bool:
        # A patron token is good only while its session is: not signed out, not ended by a
        # lost card, a new password or a cancelled account (HKPL-08, HKPL-15).
        if principal.session is None or principal.library != library:
            return False
        async with runtime.engine.connect() as conn:
            return await sessions.is_live(conn, lib, principal.session, principal.subject)

    app.state.tokens.session_check = session_live
    install_circulation_errors(app)
    for module in (items, patrons, overdue, loans, holds, charges, self_service):
        app.include_router(module.router)

    async def expire_pickups() -> int:
        async with unit_of_work(runtime.engine) as conn:
            return await hold_handlers.expire_pickups(conn, lib)

    async def send_overdue_notices() -> int:
        async with unit_of_work(runtime.engine) as conn:
            return len((await overdue_handlers.send_overdue_notices(conn, lib)).sent)

    jobs = (
        PeriodicJob("hold-pickup-expiry", expire_pickups, PICKUP_EXPIRY_EVERY),
        PeriodicJob("overdue-notices", send_overdue_notices, OVERDUE_NOTICES_EVERY),
    )
    for job in jobs:
        if not any(j.name == job.name for j in runtime.jobs):
            runtime.jobs.append(job)
    return app
