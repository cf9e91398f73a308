"""A tiny distributed federation for fault tests: one library's circulation service and the
union catalogue, each its own OS process started the way ``python -m deploy.launch up``
starts them, on free ports, against a database per unit and a virtual host of their own.

The stream of changes goes through the real path: staff change item statuses over HTTP, the
library writes each change and its ``item.changed`` to its outbox, the relay publishes, the
catalogue's consumer mirrors it. :func:`tally` compares the library (the source of truth)
with the catalogue afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx
from sqlalchemy import text

from deploy.queues import federation_queues
from libs.common.auth import client_secret
from libs.common.db import drop_database, make_engine, pg_url
from libs.common.federation import load_federation
from libs.common.messaging import broker_password
from libs.common.messaging.broker_admin import delete_vhost, setup_broker
from libs.common.messaging.outbox import DIE_AFTER_CONFIRM
from libs.common.messaging.topology import EVENTS
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET

ROOT = Path(__file__).resolve().parents[2]
RABBIT = os.environ.get("ILLFED_TEST_RABBIT_HOST", "127.0.0.1:5672")
LIBRARY = "cityu"
CATALOG_QUEUE = "catalog.items"
# A queue of the test's own on the events exchange: every item.changed the relay published,
# duplicates included, so a test can tell that a duplicate really went out.
TAP = "faults.tap"
STATUSES = ("MISSING", "IN_PROCESSING", "AVAILABLE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FEDERATION = """\
[federation]
name = "fault-test federation"
host = "127.0.0.1"

[services.catalog]
port = {catalog}
[services.requests]
port = {requests}
[services.notifier]
port = {notifier}

[consortia.HKALL]
name = "Hong Kong Academic Library Link"
currency = "HKD"
timezone = "Asia/Hong_Kong"
policy = "hkall"

[[libraries]]
code = "cityu"
name = "City University of Hong Kong Library"
consortium = "HKALL"
port = {cityu}
email = "lbill@cityu.example.edu.hk"
service_points = [{{ code = "main", name = "Run Run Shaw Library" }}]
"""


@dataclass
class Unit:
    key: str
    service: str
    port: int
    env: dict[str, str]
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.key} is running"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env={**self.env, **extra_env}, stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acks, no last commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.key} exited with {self.proc.returncode}: {self.tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.key} not ready after {timeout:.0f}s: {self.tail()}")

    def tail(self, n: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@dataclass
class FaultFederation:
    folder: Path
    vhost: str
    admin_url: str
    db: dict[str, str]
    units: dict[str, Unit] = field(default_factory=dict)

    @property
    def relay_dies(self) -> Path:
        """Creating this file makes the library's relay die after its next confirm."""
        return self.folder / "relay-dies"

    @property
    def library(self) -> Unit:
        return self.units[f"circulation-{LIBRARY}"]

    @property
    def catalog(self) -> Unit:
        return self.units["catalog"]


def _write_federation(folder: Path, ports: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fed_file = folder / "federation.toml"
    fed_file.write_text(FEDERATION.format(**ports))
    return fed_file


async def start_federation(folder: Path) -> FaultFederation:
    """Databases, broker users and topology for a library and the catalogue; both started."""
    ports = {k: free_port() for k in ("catalog", "requests", "notifier", "cityu")}
    fed_file = _write_federation(folder, ports)
    fed = load_federation(fed_file)
    vhost = f"illfed-faults-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    admin_url = f"amqp://guest:guest@{RABBIT}/{vhost}"
    # Only the two principals that run: each broker user costs rabbitmqctl calls.
    passwords = {p: broker_password(DEV_SECRET, p) for p in ("catalog", LIBRARY)}
    await setup_broker(admin_url, passwords, federation_queues(fed))
    await _declare_tap(admin_url)
    tag = uuid.uuid4().hex[:8]
    tf = FaultFederation(folder, vhost, admin_url, {})
    for key, service, port in (
        ("catalog", "catalog", ports["catalog"]),
        (f"circulation-{LIBRARY}", "circulation", ports["cityu"]),
    ):
        url = pg_url(f"illfed_faults_{tag}_{key.replace('-', '_')}")
        await upgrade(service, url)
        tf.db[key] = url
        prefix = f"ILLFED_{service.upper()}_"
        env = {
            **os.environ,
            f"{prefix}DATABASE_URL": url,
            f"{prefix}BUS_URL": f"amqp://{RABBIT}/{vhost}",
            f"{prefix}SECRET_KEY": DEV_SECRET,
            f"{prefix}ENVIRONMENT": "development",
            f"{prefix}LOG_LEVEL": "WARNING",
            "ILLFED_DATA_DIR": str(folder),
            DIE_AFTER_CONFIRM: str(tf.relay_dies),
        }
        argv = [
            sys.executable,
            "-m",
            "deploy.launch",
            "--federation",
            str(fed_file),
            "--data",
            str(folder),
            "serve-unit",
            key,
        ]
        tf.units[key] = Unit(key, service, port, env, argv, folder / f"{key}.log")
    for unit in tf.units.values():
        unit.start()
    for unit in tf.units.values():
        await unit.wait_ready()
    return tf


def shared_federation(config, tmp_path_factory) -> FaultFederation:
    """One federation for every fault test module of a pytest session (starting one costs
    tens of seconds); stopped when the session ends."""
    tf = getattr(config, "_illfed_fault_federation", None)
    if tf is None:
        tf = asyncio.run(start_federation(tmp_path_factory.mktemp("fault-federation")))
        config._illfed_fault_federation = tf
        config.add_cleanup(lambda: asyncio.run(stop_federation(tf)))
    return tf


async def stop_federation(tf: FaultFederation) -> None:
    for unit in tf.units.values():
        unit.stop()
    for url in tf.db.values():
        await drop_database(url)
    await delete_vhost(tf.vhost)


async def _declare_tap(admin_url: str) -> None:
    conn = await aio_pika.connect(admin_url)
    try:
        ch = await conn.channel()
        q = await ch.declare_queue(TAP, durable=True)
        await q.bind(EVENTS, routing_key="item.changed")
    finally:
        await conn.close()


async def tapped(admin_url: str) -> Counter:
    """How many times each message id went out on item.changed (drains the tap)."""
    seen: Counter = Counter()
    conn = await aio_pika.connect(admin_url)
    try:
        ch = await conn.channel()
        await ch.set_qos(prefetch_count=500)
        q = await ch.get_queue(TAP, ensure=False)
        while (msg := await q.get(no_ack=True, fail=False)) is not None:
            seen[msg.message_id] += 1
    finally:
        await conn.close()
    return seen


async def queue_depth(admin_url: str, queue: str) -> int:
    conn = await aio_pika.connect(admin_url)
    try:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0
    finally:
        await conn.close()


# ---------------------------------------------------------------- the stream of changes


class Staff:
    """The library's staff changing item statuses over HTTP, riding out a service that is
    down: a change whose answer was lost is simply sent again (the database is the truth)."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.client = httpx.AsyncClient(base_url=unit.url, timeout=10.0)
        self.done = 0
        self.failed_calls = 0

    async def __aenter__(self) -> Staff:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, deadline: float = 120.0, **kw) -> httpx.Response:
        end = time.monotonic() + deadline
        while True:
            try:
                if "Authorization" not in self.client.headers:
                    await self._sign_in()
                res = await self.client.request(method, path, **kw)
                if res.status_code < 500:
                    return res
            except httpx.HTTPError:
                pass
            self.failed_calls += 1
            if time.monotonic() > end:
                raise RuntimeError(f"{method} {path} kept failing: {self.unit.tail()}")
            await asyncio.sleep(0.2)

    async def _sign_in(self) -> None:
        res = await self.client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": LIBRARY,
                "client_secret": client_secret(DEV_SECRET, LIBRARY),
            },
        )
        res.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"

    async def add_items(self, n: int, prefix: str) -> list[str]:
        ids = []
        for i in range(n):
            barcode = f"{prefix}-{i:04d}"
            res = await self._call(
                "POST",
                "/api/v1/items",
                json={
                    "barcode": barcode,
                    "title": f"Fault test book {barcode}",
                    "material_type": "book",
                    "service_point": "main",
                },
                headers={"Idempotency-Key": barcode},
            )
            assert res.status_code == 201, res.text
            ids.append(res.json()["id"])
            self.done += 1
        return ids

    async def change_statuses(self, items: list[str], changes: int, workers: int = 6) -> None:
        """``changes`` status changes spread over ``items``; one worker per share of the items
        so that no two changes of one item race."""

        async def work(mine: list[str], count: int) -> None:
            for n in range(count):
                item = mine[n % len(mine)]
                status = STATUSES[(n // len(mine)) % len(STATUSES)]
                res = await self._call(
                    "POST", f"/api/v1/items/{item}/status", json={"status": status}
                )
                assert res.status_code == 200, res.text
                self.done += 1

        workers = min(workers, len(items))
        shares = [items[w::workers] for w in range(workers)]
        counts = [changes // workers + (1 if w < changes % workers else 0) for w in range(workers)]
        await asyncio.gather(*(work(s, c) for s, c in zip(shares, counts, strict=True)))

    async def wait_done(self, at_least: int, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while self.done < at_least:
            if time.monotonic() > end:
                raise RuntimeError(f"only {self.done} changes made")
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------- comparing the two sides


@dataclass
class Tally:
    sent: int  # messages the library's outbox holds (each state change once)
    unsent: int  # still waiting in the outbox
    applied: int  # of those, recorded in the catalogue's inbox
    lost: int  # sent but never applied
    unknown: int  # applied by the catalogue but never sent (would be a forgery or a bug)
    items: int
    mismatched: list[str]  # items whose catalogue holding differs from the library's item
    parked: int = 0  # dead-lettered by the catalogue
    waiting: int = 0  # still in the catalogue's queue
    published: int = 0  # times item.changed went out, duplicates included (from the tap)

    @property
    def applied_twice(self) -> int:
        # The inbox keys on the message id, so a second application shows as a holding
        # whose version ran ahead of (or behind) the item's.
        return len(self.mismatched) if self.lost == 0 else 0

    @property
    def settled(self) -> bool:
        return self.lost == 0 and self.unsent == 0 and not self.mismatched

    def line(self) -> str:
        return (
            f"sent {self.sent} ({self.unsent} still in the outbox), applied {self.applied}, "
            f"lost {self.lost}, applied twice {self.applied_twice}, applied but never sent "
            f"{self.unknown}, dead-lettered {self.parked}, waiting {self.waiting}, items out "
            f"of step {len(self.mismatched)} of {self.items}"
        )


async def tally(tf: FaultFederation) -> Tally:
    lib = make_engine(tf.db[f"circulation-{LIBRARY}"], pool_size=1)
    cat = make_engine(tf.db["catalog"], pool_size=1)
    try:
        async with lib.connect() as conn:
            outbox = (
                await conn.execute(
                    text(
                        "SELECT message_id, sent_at IS NOT NULL FROM outbox WHERE routing_key = "
                        "'item.changed'"
                    )
                )
            ).all()
            items = dict(
                (await conn.execute(text("SELECT id, status || ':' || version FROM items"))).all()
            )
        async with cat.connect() as conn:
            inbox = {
                r[0]
                for r in await conn.execute(
                    text("SELECT message_id FROM inbox WHERE consumer = 'catalog'")
                )
            }
            mirror = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT item_id, status || ':' || version FROM holdings "
                            "WHERE library = :lib"
                        ),
                        {"lib": LIBRARY},
                    )
                ).all()
            )
    finally:
        await lib.dispose()
        await cat.dispose()
    sent_ids = {m for m, _ in outbox}
    return Tally(
        sent=len(sent_ids),
        unsent=sum(1 for _, sent in outbox if not sent),
        applied=len(sent_ids & inbox),
        lost=len(sent_ids - inbox),
        unknown=len(inbox - sent_ids),
        items=len(items),
        mismatched=sorted(i for i, v in items.items() if mirror.get(i) != v),
        parked=await queue_depth(tf.admin_url, CATALOG_QUEUE + ".dlq"),
        waiting=await queue_depth(tf.admin_url, CATALOG_QUEUE),
    )


async def settle(tf: FaultFederation, timeout: float = 10.0) -> tuple[Tally, float]:
    """Wait until the catalogue mirrors every change the library made; the last tally and
    how long it took."""
    start = time.monotonic()
    while True:
        t = await tally(tf)
        if t.settled or time.monotonic() - start > timeout:
            return t, time.monotonic() - start
        await asyncio.sleep(0.2)


async def applied_count(tf: FaultFederation) -> int:
    cat = make_engine(tf.db["catalog"], pool_size=1)
    try:
        async with cat.connect() as conn:
            return (
                await conn.execute(text("SELECT count(*) FROM inbox WHERE consumer = 'catalog'"))
            ).scalar_one()
    finally:
        await cat.dispose()


async def back_in(tf: FaultFederation, before: int, timeout: float = 60.0) -> float:
    """Seconds until the catalogue applies a change beyond ``before`` again."""
    start = time.monotonic()
    while await applied_count(tf) <= before:
        if time.monotonic() - start > timeout:
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def terminate_connections(db_url: str) -> int:
    """Cut every connection to a database from the server side (as a failover or a restart
    of PostgreSQL would); returns how many were cut."""
    name = db_url.rsplit("/", 1)[-1]
    admin = make_engine(pg_url("postgres"), pool_size=1)
    try:
        async with admin.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            return sum(1 for r in rows if r[0])
    finally:
        await admin.dispose()


# ---------------------------------------------------------------- the scenarios


@dataclass
class Outcome:
    tally: Tally
    settled_in: float  # seconds from the end of the stream until everything was mirrored
    back_in: float  # seconds from the fault healed until the catalogue applied changes again
    duplicates_published: int = 0  # messages of this run the relay published more than once
    connections_cut: int = 0


async def _finish(
    tf: FaultFederation, stream: asyncio.Task, settle_within: float, back: float
) -> Outcome:
    await stream
    t, took = await settle(tf, settle_within)
    seen = await tapped(tf.admin_url)
    t.published = sum(seen.values())
    return Outcome(t, took, back, sum(n - 1 for n in seen.values()))


async def consumer_killed(
    tf: FaultFederation, changes: int, items: int = 20, settle_within: float = 60.0
) -> Outcome:
    """SIGKILL the catalogue a third of the way through the stream; restart it two thirds
    through (the library goes on changing items meanwhile)."""
    await tapped(tf.admin_url)
    async with Staff(tf.library) as staff:
        ids = await staff.add_items(items, f"kc{uuid.uuid4().hex[:6]}")
        stream = asyncio.create_task(staff.change_statuses(ids, changes))
        await staff.wait_done(items + changes // 3)
        tf.catalog.kill()
        await staff.wait_done(items + 2 * changes // 3)
        before = await applied_count(tf)
        tf.catalog.start()
        await tf.catalog.wait_ready()
        back = await back_in(tf, before)
        return await _finish(tf, stream, settle_within, back)


async def publisher_killed_after_confirm(
    tf: FaultFederation, changes: int, items: int = 10, settle_within: float = 60.0
) -> Outcome:
    """A third of the way through the stream, the library's process dies right after the
    broker confirmed a batch and before the outbox rows are marked sent; restarted, it
    publishes that batch again."""
    await tapped(tf.admin_url)
    async with Staff(tf.library) as staff:
        ids = await staff.add_items(items, f"kp{uuid.uuid4().hex[:6]}")
        stream = asyncio.create_task(staff.change_statuses(ids, changes))
        await staff.wait_done(items + changes // 3)
        tf.relay_dies.touch()
        end = time.monotonic() + 60
        while tf.library.alive():
            if stream.done() or time.monotonic() > end:
                raise RuntimeError("the relay never reached its fault")
            await asyncio.sleep(0.05)
        assert tf.library.proc is not None and tf.library.proc.returncode == 70
        await asyncio.sleep(0.5)  # what was published before the crash is applied meanwhile
        before = await applied_count(tf)
        tf.library.start()
        await tf.library.wait_ready()
        back = await back_in(tf, before)
        return await _finish(tf, stream, settle_within, back)


async def consumer_database_dropped(
    tf: FaultFederation, changes: int, items: int = 20, cuts: int = 3, settle_within: float = 60.0
) -> Outcome:
    """Cut the catalogue's database connections from the server side, ``cuts`` times during
    the stream."""
    await tapped(tf.admin_url)
    cut, back = 0, 0.0
    async with Staff(tf.library) as staff:
        ids = await staff.add_items(items, f"kd{uuid.uuid4().hex[:6]}")
        stream = asyncio.create_task(staff.change_statuses(ids, changes))
        for k in range(1, cuts + 1):
            await staff.wait_done(items + k * changes // (cuts + 1))
            before = await applied_count(tf)
            cut += await terminate_connections(tf.db["catalog"])
            back = max(back, await back_in(tf, before))
        outcome = await _finish(tf, stream, settle_within, back)
    outcome.connections_cut = cut
    return outcome
