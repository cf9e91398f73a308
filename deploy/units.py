"""The processes a federation is made of ("units"): one per shared service and one per member
library, with where each keeps its data in either way of running."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from libs.common.clock import Clock
from libs.common.db import pg_url, sqlite_url
from libs.common.federation import Federation
from libs.common.messaging.delivery import Bus
from libs.common.service import ServiceRuntime


@dataclass(frozen=True)
class Unit:
    key: str  # "catalog", "requests", "notifier", "circulation-cityu"
    service: str  # the service package: catalog, requests, notifier, circulation
    principal: str  # who it is on the bus
    port: int
    library: str | None = None

    def sqlite_url(self, data_dir: Path) -> str:
        return sqlite_url(data_dir / f"{self.key}.db")

    def pg_url(self, prefix: str = "illfed") -> str:
        return pg_url(f"{prefix}_{self.key.replace('-', '_')}")

    def module_args(self) -> list[str]:
        args = ["-m", f"services.{self.service}"]
        return [*args, "--library", self.library] if self.library else args


def units(fed: Federation) -> list[Unit]:
    out = [
        Unit("catalog", "catalog", "catalog", fed.services["catalog"].port),
        Unit("requests", "requests", "requests", fed.services["requests"].port),
        Unit("notifier", "notifier", "notifier", fed.services["notifier"].port),
    ]
    out += [
        Unit(f"circulation-{lib.code}", "circulation", lib.code, lib.port, lib.code)
        for lib in fed.libraries
    ]
    return out


Builder = Callable[[Unit, str, Bus, Clock], Awaitable[tuple[ServiceRuntime, FastAPI]]]


async def build_unit(
    unit: Unit,
    fed: Federation,
    database_url: str,
    bus: Bus,
    clock: Clock,
    secret_key: str,
    extras: dict | None = None,
) -> tuple[ServiceRuntime, FastAPI]:
    """Build a unit's runtime and app, the same way in both ways of running."""
    rt, app = await _build(unit, fed, database_url, bus, clock, secret_key, extras)
    every = os.environ.get(JOB_EVERY)
    if every:
        # The demo and the end-to-end tests move the clock by days; the daily jobs must then
        # look at it more often than hourly to notice.
        for job in rt.jobs:
            job.every = min(job.every, float(every))
    return rt, app


#: seconds between runs of every periodic job, when shorter than the job's own interval
JOB_EVERY = "ILLFED_JOB_EVERY_SECONDS"


async def _build(
    unit: Unit,
    fed: Federation,
    database_url: str,
    bus: Bus,
    clock: Clock,
    secret_key: str,
    extras: dict | None = None,
) -> tuple[ServiceRuntime, FastAPI]:
    if unit.service == "circulation":
        from services.circulation.app import create_app
        from services.circulation.runtime import build_runtime

        rt = build_runtime(unit.library, database_url, bus, clock, fed=fed)  # type: ignore[arg-type]
        return rt, create_app(rt, fed, secret_key)
    if unit.service == "requests":
        from services.requests.app import create_app as requests_app
        from services.requests.runtime import build_runtime as requests_runtime

        rt = requests_runtime(fed, database_url, bus, clock)
        return rt, requests_app(rt, fed, secret_key)
    if unit.service == "catalog":
        from services.catalog.app import create_app as catalog_app
        from services.catalog.runtime import build_runtime as catalog_runtime

        rt = catalog_runtime(fed, database_url, bus, clock)
        return rt, catalog_app(rt, fed, secret_key)
    if unit.service == "notifier":
        from services.notifier.app import create_app as notifier_app
        from services.notifier.runtime import build_runtime as notifier_runtime

        rt = notifier_runtime(fed, database_url, bus, clock, **(extras or {}))
        return rt, notifier_app(rt, fed, secret_key)
    raise ValueError(f"unknown service {unit.service}")
