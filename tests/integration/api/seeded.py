"""A small seeded federation on SQLite, each service's app built as the embedded launcher
builds it (not started: its routes answer, its consumers and jobs stay still), with a token
of the right kind for every route: the library's, an operator's or a patron's session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from deploy.queues import federation_queues
from deploy.seed import demo_items
from deploy.units import build_unit, units
from libs.common.auth import require_operator
from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import ManualClock
from libs.common.contracts.events import NoticeRequested
from libs.common.db import make_engine, unit_of_work
from libs.common.federation import Federation, default_federation
from libs.common.messaging.delivery import Delivery
from libs.common.messaging.memory import MemoryBroker
from libs.common.migrate import upgrade
from libs.common.openapi import api_routes, needs
from libs.common.service import ServiceRuntime
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.loading import load_records
from services.catalog.seed import LibraryInfo, synthetic_records
from services.circulation.adapters import items_repo
from services.circulation.app import create_app as circulation_app
from services.circulation.domain.hashing import SecretHasher
from services.circulation.runtime import build_runtime as circulation_runtime
from services.circulation.seed import seed_demo_patrons
from services.notifier.adapters.repository import record_notice
from services.requests.adapters.dead_letters import park

LIBRARY = "hkpl"  # the demo consortium's member: it has demo patrons
SERVICES = ("catalog", "requests", "notifier", f"circulation-{LIBRARY}")


@dataclass
class Service:
    app: FastAPI
    runtime: ServiceRuntime
    #: bearer token per kind of caller: "library", "operator", "patron"
    tokens: dict[str, str]
    #: path parameters naming what the seeding made (a patron, an item, a record)
    known: dict[str, object]

    def token_for(self, method: str, path: str) -> str:
        """The token an honest caller of this operation holds."""
        if path.startswith("/api/v1/me"):
            return self.tokens["patron"]
        for route in api_routes(self.app.routes):
            if (
                route.path_format == path
                and method.upper() in route.methods
                and needs(route, require_operator)
            ):
                return self.tokens["operator"]
        return self.tokens["library"]


async def _seed(fed: Federation, urls: dict[str, str], clock: ManualClock, hasher) -> str:
    """Items and demo patrons at the library, a few catalogue records, a parked dead letter
    and a notice; the id of a patron."""
    lib = fed.library(LIBRARY)
    engines = {key: make_engine(url) for key, url in urls.items()}
    try:
        async with unit_of_work(engines[f"circulation-{LIBRARY}"]) as conn:
            for item in demo_items(LIBRARY, [sp.code for sp in lib.service_points]):
                await items_repo.add_item(conn, LIBRARY, item, clock)
            await seed_demo_patrons(conn, fed, LIBRARY, clock, hasher)
            patron_id = (await conn.exec_driver_sql("SELECT id FROM patrons LIMIT 1")).scalar()
        members = [LibraryInfo(x.code, x.consortium, ("main",)) for x in fed.libraries]
        async with unit_of_work(engines["catalog"]) as conn:
            await load_records(
                conn,
                synthetic_records(6, libraries=members),
                members={x.code: x.consortium for x in fed.libraries},
            )
        async with unit_of_work(engines["requests"]) as conn:
            await park(
                conn,
                Delivery(
                    body=b"{not json",
                    queue="circulation.cityu.dlq",
                    message_id="m-1",
                    user_id="hkbu",
                    headers={"x-illfed-reason": "malformed"},
                ),
                clock,
            )
        async with unit_of_work(engines["notifier"]) as conn:
            notice = NoticeRequested.model_validate(
                {
                    "notice_id": "n-1",
                    "kind": "ill_arrived",
                    "library": LIBRARY,
                    "patron_ref": f"{LIBRARY}:{patron_id}",
                    "email": "chan.taiman@example.hk",
                    "patron_name": "Chan Tai Man",
                    "language": "en",
                    "title": "香港歷史",
                    "pickup_by": date(2026, 1, 12),
                    "pickup_location": "Central Library",
                }
            )
            await record_notice(conn, notice, clock.now())
    finally:
        for engine in engines.values():
            await engine.dispose()
    return patron_id


def seeded_federation(data_dir: Path) -> dict[str, Service]:
    """Every service's app on its own migrated, seeded SQLite file under ``data_dir``."""
    fed = default_federation()
    clock = ManualClock()
    # Cheap hashing: the patrons' secrets are hashed at seeding, never checked here.
    hasher = SecretHasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    chosen = [u for u in units(fed) if u.key in SERVICES]
    urls = {u.key: u.sqlite_url(data_dir) for u in chosen}

    async def prepare() -> str:
        for u in chosen:
            await upgrade(u.service, urls[u.key])
        return await _seed(fed, urls, clock, hasher)

    patron_id = asyncio.run(prepare())
    first_item = demo_items(LIBRARY, ["main"])[0]["id"]
    known: dict[str, dict[str, object]] = {
        "circulation": {"patron_id": patron_id, "item_id": first_item, "card_number": "HKPL000001"},
        "catalog": {"record_id": 1, "library": LIBRARY},
        "requests": {"dl_id": 1},
        "notifier": {},
    }
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    services: dict[str, Service] = {}
    catalogue: CatalogueClient | None = None
    # The catalogue first: the library's ILL requests look their records up in it, through
    # its app (never a port of this machine).
    for u in sorted(chosen, key=lambda u: u.service != "catalog"):
        bus = broker.handle(u.principal)
        if u.service == "circulation":
            rt = circulation_runtime(
                LIBRARY, urls[u.key], bus, clock, fed=fed, hasher=hasher, catalogue=catalogue
            )
            app = circulation_app(rt, fed, DEV_SECRET)
        else:
            rt, app = asyncio.run(build_unit(u, fed, urls[u.key], bus, clock, DEV_SECRET))
        if u.service == "catalog":
            catalogue = CatalogueClient(
                "http://catalog.test", transport=httpx.ASGITransport(app=app)
            )
        issuer = app.state.tokens
        services[u.service] = Service(
            app,
            rt,
            {
                "library": issuer.issue(LIBRARY, "library", LIBRARY),
                "operator": issuer.issue("operator", "operator", None),
                "patron": issuer.issue(patron_id, "patron", LIBRARY),
            },
            known[u.service],
        )
    return services
