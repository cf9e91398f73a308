"""Two replicas of a library's circulation service and two of the catalogue, on one database
each and one broker: the replicas' outbox relays share the library's outbox, the catalogue's
replicas compete for the same queue, and one replica of each is killed mid-stream. Every
change reaches the catalogue once and the catalogue ends at each item's newest version."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from sqlalchemy import func, select

from libs.common.clock import SystemClock
from libs.common.db import drop_database, make_engine, pg_url, unit_of_work
from libs.common.federation import default_federation
from libs.common.messaging import connect_bus
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.tables import holdings
from services.catalog.adapters.tables import inbox as catalog_inbox
from services.catalog.runtime import build_runtime as catalog_runtime
from services.circulation.adapters import items_repo
from services.circulation.runtime import build_runtime as circulation_runtime
from tests.conftest import federation_vhost

ITEMS, CHANGES = 12, 5
STATUSES = ("ON_LOAN", "AVAILABLE")


@pytest.fixture
def vhost_url():
    with federation_vhost("illfed-test-replicas") as admin_url:
        yield admin_url


@pytest.fixture
async def databases():
    tag = uuid.uuid4().hex[:8]
    urls = {
        "circulation": pg_url(f"illfed_test_rep_circ_{tag}"),
        "catalog": pg_url(f"illfed_test_rep_cat_{tag}"),
    }
    try:
        for service, url in urls.items():
            await upgrade(service, url)
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    yield urls
    for url in urls.values():
        await drop_database(url)


def _item(n: int) -> dict:
    return {
        "id": f"cityu-rep-{n:03d}",
        "barcode": f"CUREP{n:04d}",
        "title": f"Replicated book {n}",
        "authors": ["A. Writer"],
        "language": "en",
        "material_type": "book",
        "service_point": "main",
        "call_number": f"QA{n}",
        "section": "adult",
        "price_minor": 10000,
    }


async def _kill(rt) -> None:
    """A replica dying: its broker connection drops with messages in hand, nothing finishes."""
    for task in [*(rt._tasks), *([rt.relay._task] if rt.relay and rt.relay._task else [])]:
        task.cancel()
    await rt.bus.close()
    with contextlib.suppress(Exception):
        await rt.engine.dispose()


@pytest.mark.pg
@pytest.mark.rabbit
async def test_replicas_apply_every_change_once_and_in_order_with_one_killed(vhost_url, databases):
    fed, clock = default_federation(), SystemClock()
    library = [
        circulation_runtime(
            "cityu",
            databases["circulation"],
            await connect_bus(vhost_url, "cityu", DEV_SECRET),
            clock,
        )
        for _ in range(2)
    ]
    catalogue = [
        catalog_runtime(
            fed, databases["catalog"], await connect_bus(vhost_url, "catalog", DEV_SECRET), clock
        )
        for _ in range(2)
    ]
    for rt in [*library, *catalogue]:
        await rt.start()
    writer = make_engine(databases["circulation"])
    final: dict[str, str] = {}
    try:
        for n in range(ITEMS):
            async with unit_of_work(writer) as conn:
                await items_repo.add_item(conn, "cityu", _item(n), clock)
        for change in range(CHANGES):
            if change == CHANGES // 2:
                # One replica of each dies mid-stream: its relay with rows in hand, its
                # consumer with unacked deliveries; the survivors take over.
                await asyncio.gather(_kill(library[0]), _kill(catalogue[0]))
            for n in range(ITEMS):
                status = STATUSES[change % 2]
                async with unit_of_work(writer) as conn:
                    await items_repo.set_status(conn, "cityu", f"cityu-rep-{n:03d}", status, clock)
                final[f"cityu-rep-{n:03d}"] = status
        reader = make_engine(databases["catalog"])
        try:
            expected = ITEMS * (1 + CHANGES)
            for _ in range(600):
                async with reader.connect() as conn:
                    applied = await conn.scalar(select(func.count()).select_from(catalog_inbox))
                    rows = (
                        await conn.execute(
                            select(holdings.c.item_id, holdings.c.version, holdings.c.status)
                        )
                    ).all()
                if applied >= expected and all(r.version == 1 + CHANGES for r in rows):
                    break
                await asyncio.sleep(0.1)
            # Every message applied, none twice (the inbox has one row per message id)...
            assert applied == expected
            # ...and each item at its newest version and status: no older change, arriving
            # late at the other replica, overwrote a newer one.
            assert {r.item_id: (r.version, r.status) for r in rows} == {
                item: (1 + CHANGES, status) for item, status in final.items()
            }
        finally:
            await reader.dispose()
    finally:
        await writer.dispose()
        for rt in [library[1], catalogue[1]]:
            await rt.close()
