"""The hop: one state change at its source → its outbox → RabbitMQ → the consumer committed,
measured for illfed and for the floor (the same hop with nothing but asyncpg, aio-pika and a
plain ASGI app) in the same run, so the figures that matter are ratios.

* ``floor``: :mod:`bench.hop.floor`'s app and consumer, each its own process;
* ``illfed``: a library's item status change, ``POST /api/v1/items/{id}/status`` to the
  circulation service (its real app and outbox relay, served as ``deploy.launch serve-unit``
  serves it), ``item.changed`` through RabbitMQ to the union catalogue's consumer (its real
  runtime), each unit its own process with its own database.

Every client does one hop at a time: POST, then wait until the consumer says it committed the
message (a UDP probe carrying the moment it did). Printed: hops/s with ``--clients`` clients,
a lone client's end-to-end latency (POST sent → consumer committed) p50/p95, CPU ms per hop of
each process (the publishing service, the consumer, the PostgreSQL backends of the bench's
databases, RabbitMQ's VM, which other users of the broker also load) and each unit's peak RSS.
Each part gets a virtual host and databases of its own, removed afterwards. Both parts run
side by side and take turns (``--turns``): a machine shared with others whose speed drifts
during the run moves the floor and illfed alike.

    python -m bench hop                          # both, full length
    python -m bench hop --seconds 5 --lone 100   # shorter
    python -m bench hop --parts floor            # one of them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench import cpu_profile
from bench.hop import floor
from bench.hop.measure import (
    PROBE_ENV,
    Connection,
    CpuMeter,
    Probe,
    free_port,
    open_probe,
    peak_rss_mb,
    percentile,
    rabbitmq_pid,
)

ROOT = Path(__file__).resolve().parents[2]
RABBIT = "127.0.0.1:5672"
LIBRARY = "cityu"
#: two statuses staff may set by hand, the item's availability flipping on each change
STATUSES = ("MISSING", "AVAILABLE")
RESULTS = ROOT / "bench" / "results" / "results.jsonl"

FEDERATION = """\
[federation]
name = "hop bench federation"
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
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=out)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@dataclass
class Client:
    """One client's hop: where it POSTs, the key the consumer reports it by, its bodies."""

    path: str
    key: str
    bodies: list[dict]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    name: str
    url: str
    publisher: Proc
    consumer: Proc
    databases: list[str]
    clients: list[Client]
    cleanup: list[Callable] = field(default_factory=list)

    def procs(self) -> list[Proc]:
        return [self.publisher, self.consumer]


async def _wait_ready(url: str, procs: list[Proc], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            for p in procs:
                p.check()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + "/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s: {procs[0].tail()}")


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- the two targets


async def floor_target(folder: Path, n_clients: int, probe_at: str) -> Target:
    from libs.common.db import drop_database, ensure_database, pg_url
    from libs.common.messaging.broker_admin import delete_vhost, ensure_vhost

    tag = uuid.uuid4().hex[:8]
    database = pg_url(f"illfed_bench_floor_{tag}")
    vhost = f"illfed-bench-floor-{tag}"
    amqp = f"amqp://guest:guest@{RABBIT}/{vhost}"
    target = Target("floor", "", None, None, [database], [])  # type: ignore[arg-type]
    target.cleanup.append(lambda: drop_database(database))
    target.cleanup.append(lambda: delete_vhost(vhost))
    await ensure_database(database)
    await floor.create_schema(database)
    await ensure_vhost(vhost)
    await floor.declare(amqp)
    port = free_port()
    common = [sys.executable, "-m", "bench.hop.floor"]
    args = ["--database", database, "--amqp", amqp]
    target.url = f"http://127.0.0.1:{port}"
    target.publisher = Proc(
        "floor app",
        [*common, "app", "--port", str(port), *args],
        dict(os.environ),
        folder / "floor-app.log",
    )
    target.consumer = Proc(
        "floor consumer",
        [*common, "consumer", *args],
        {**os.environ, PROBE_ENV: probe_at},
        folder / "floor-consumer.log",
    )
    for p in target.procs():
        p.start()
    await _wait_ready(target.url, target.procs())
    target.clients = [
        Client("/hop", f"floor-{n}", [{"key": f"floor-{n}", "status": s} for s in STATUSES])
        for n in range(n_clients)
    ]
    return target


async def illfed_target(
    folder: Path, n_clients: int, probe_at: str, cpu_profile_dir: str = ""
) -> Target:
    from deploy.queues import federation_queues
    from libs.common.auth import client_secret
    from libs.common.db import drop_database, pg_url
    from libs.common.federation import load_federation
    from libs.common.messaging import broker_password
    from libs.common.messaging.broker_admin import delete_vhost, setup_broker
    from libs.common.migrate import upgrade
    from libs.common.settings import DEV_SECRET

    ports = {k: free_port() for k in ("catalog", "requests", "notifier", LIBRARY)}
    fed_file = folder / "federation.toml"
    fed_file.write_text(FEDERATION.format(**ports))
    fed = load_federation(fed_file)
    tag = uuid.uuid4().hex[:8]
    vhost = f"illfed-bench-hop-{tag}"
    urls = {
        "catalog": pg_url(f"illfed_bench_hop_{tag}_catalog"),
        f"circulation-{LIBRARY}": pg_url(f"illfed_bench_hop_{tag}_{LIBRARY}"),
    }
    target = Target("illfed", f"http://127.0.0.1:{ports[LIBRARY]}", None, None, [], [])  # type: ignore[arg-type]
    target.cleanup.append(lambda: delete_vhost(vhost))
    for url in urls.values():
        target.cleanup.append(lambda url=url: drop_database(url))
    passwords = {p: broker_password(DEV_SECRET, p) for p in ("catalog", LIBRARY)}
    await setup_broker(f"amqp://guest:guest@{RABBIT}/{vhost}", passwords, federation_queues(fed))
    procs = {}
    profiled = cpu_profile.folder_env(cpu_profile_dir)
    for key, url in urls.items():
        service = key.split("-")[0]
        await upgrade(service, url)
        target.databases.append(url)
        prefix = f"ILLFED_{service.upper()}_"
        env = {
            **os.environ,
            f"{prefix}DATABASE_URL": url,
            f"{prefix}BUS_URL": f"amqp://{RABBIT}/{vhost}",
            f"{prefix}SECRET_KEY": DEV_SECRET,
            f"{prefix}ENVIRONMENT": "development",
            f"{prefix}LOG_LEVEL": "WARNING",
            "ILLFED_DATA_DIR": str(folder),
            PROBE_ENV: probe_at,
            **(profiled(key) if profiled else {}),
        }
        argv = [sys.executable, "-m", "bench.hop.unit", "--federation", str(fed_file)]
        argv += ["--data", str(folder), "serve-unit", key]
        procs[key] = Proc(key, argv, env, folder / f"{key}.log")
    target.publisher, target.consumer = procs[f"circulation-{LIBRARY}"], procs["catalog"]
    for p in target.procs():
        p.start()
    await _wait_ready(target.url, target.procs())
    await _wait_ready(f"http://127.0.0.1:{ports['catalog']}", target.procs())

    async with httpx.AsyncClient(base_url=target.url, timeout=30.0) as http:
        res = await http.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": LIBRARY,
                "client_secret": client_secret(DEV_SECRET, LIBRARY),
            },
        )
        res.raise_for_status()
        auth = {"authorization": f"Bearer {res.json()['access_token']}"}
        for n in range(n_clients):
            barcode = f"HOP{tag}{n:04d}"
            res = await http.post(
                "/api/v1/items",
                json={
                    "barcode": barcode,
                    "title": f"Hop bench book {n} ({tag})",
                    "authors": ["A. Writer"],
                    "material_type": "book",
                    "service_point": "main",
                },
                headers={**auth, "Idempotency-Key": barcode},
            )
            res.raise_for_status()
            item = res.json()["id"]
            target.clients.append(
                Client(
                    f"/api/v1/items/{item}/status",
                    f"item:{LIBRARY}:{item}",
                    [{"status": s} for s in STATUSES],
                    auth,
                )
            )
    # Every item's "added" is in the catalogue before the clock starts.
    conn = await asyncpg.connect(floor.dsn(urls["catalog"]))
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval("SELECT count(*) FROM holdings") < n_clients:
            if time.monotonic() > deadline:
                raise RuntimeError("the catalogue did not mirror the bench's items")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return target


# ---------------------------------------------------------------- load


@dataclass
class Load:
    hops: int = 0
    seconds: float = 0.0
    e2e_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)


async def _client(
    c: Client, conn: Connection, probe: Probe, load: Load, deadline: float, hops: int | None
) -> None:
    n = 0
    while (time.monotonic() < deadline) if hops is None else (n < hops):
        committed = probe.expect(c.key)
        t0 = time.monotonic_ns()
        status, body = await conn.post(c.path, c.bodies[n % len(c.bodies)])
        answered = time.monotonic_ns()
        if status != 200:
            raise RuntimeError(f"POST {c.path} answered {status}: {body[:500]!r}")
        at = await asyncio.wait_for(committed, 60.0)
        load.e2e_ms.append((at - t0) / 1e6)
        load.api_ms.append((answered - t0) / 1e6)
        load.hops += 1
        n += 1


async def run_load(
    target: Target,
    clients: list[Client],
    probe: Probe,
    *,
    seconds: float | None = None,
    hops: int | None = None,
) -> Load:
    conns = [await Connection.open(target.url, c.headers) for c in clients]
    load = Load()
    try:
        start = time.monotonic()
        deadline = start + (seconds or 0.0)
        await asyncio.gather(
            *(
                _client(c, k, probe, load, deadline, hops)
                for c, k in zip(clients, conns, strict=True)
            )
        )
        load.seconds = time.monotonic() - start
    finally:
        for k in conns:
            await k.close()
    return load


async def _backends(databases: list[str]) -> list[int]:
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            [_db_name(d) for d in databases],
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def _profile(target: Target, args, seconds: float) -> list[subprocess.Popen]:
    """py-spy on both processes for the busy run's ``seconds`` (every part's turns: a
    process idle while another part has its turn adds no samples), collapsed stacks, one file
    each."""
    if not args.profile:
        return []
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for role, p in (("publisher", target.publisher), ("consumer", target.consumer)):
        path = folder / f"{target.name}-{role}.txt"
        argv = [args.py_spy, "record", "--nonblocking", "--format", "raw", "-r", "200"]
        argv += ["-d", str(int(seconds) + 1), "-p", str(p.pid), "-o", str(path)]
        out.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return out


@dataclass
class Part:
    """A part's target and what its turns measured so far."""

    target: Target
    probe: Probe
    busy: Load = field(default_factory=Load)
    lone: Load = field(default_factory=Load)
    cpu: dict[str, float] = field(default_factory=dict)

    async def groups(self, rabbit: int | None) -> dict[str, list[int]]:
        return {
            "publisher": [self.target.publisher.pid],
            "consumer": [self.target.consumer.pid],
            "postgres": await _backends(self.target.databases),
            "rabbitmq": [rabbit] if rabbit else [],
            "driver": [os.getpid()],
        }

    async def busy_turn(self, seconds: float, rabbit: int | None) -> None:
        """One turn of the busy run, its hops and CPU added to the part's."""
        meter = CpuMeter()
        meter.start(await self.groups(rabbit))

        async def sampling() -> None:
            while True:
                await asyncio.sleep(0.25)
                meter.sample(await self.groups(rabbit))

        sampler = asyncio.create_task(sampling())
        try:
            load = await run_load(self.target, self.target.clients, self.probe, seconds=seconds)
        finally:
            sampler.cancel()
        for k, v in meter.stop(await self.groups(rabbit)).items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v
        _add(self.busy, load)

    async def lone_turn(self, hops: int) -> None:
        _add(self.lone, await run_load(self.target, self.target.clients[:1], self.probe, hops=hops))

    def result(self, args) -> dict:
        busy, lone, target = self.busy, self.lone, self.target
        return {
            "hops_per_s": busy.hops / busy.seconds,
            "api_per_s": busy.hops / busy.seconds,
            "busy_e2e_p50_ms": percentile(busy.e2e_ms, 50),
            "busy_api_p50_ms": percentile(busy.api_ms, 50),
            "lone_e2e_p50_ms": percentile(lone.e2e_ms, 50),
            "lone_e2e_p95_ms": percentile(lone.e2e_ms, 95),
            "lone_api_p50_ms": percentile(lone.api_ms, 50),
            "cpu_ms_per_hop": {k: 1000 * v / busy.hops for k, v in self.cpu.items()},
            "peak_rss_mb": {
                "publisher": peak_rss_mb(target.publisher.pid),
                "consumer": peak_rss_mb(target.consumer.pid),
            },
            "clients": len(target.clients),
            "seconds": args.seconds,
            "lone_hops": args.lone,
            "turns": args.turns,
            "unexpected_probes": self.probe.unexpected,
        }


def _add(total: Load, load: Load) -> None:
    total.hops += load.hops
    total.seconds += load.seconds
    total.e2e_ms += load.e2e_ms
    total.api_ms += load.api_ms


def _signal_profiled(parts: dict[str, Part], args, sig: signal.Signals) -> None:
    """illfed's units sample their stacks on their own CPU clock (``--cpu-profile``)."""
    if args.cpu_profile and "illfed" in parts:
        for p in parts["illfed"].target.procs():
            os.kill(p.pid, sig)


async def measure(parts: dict[str, Part], args) -> dict[str, dict]:
    """Every part warmed up, then the busy run and the lone client's hops in ``--turns``
    turns, the parts taking turns: a machine shared with others that speeds up or slows down
    during the run (its figures moved by a quarter from one minute to the next) moves the
    floor's figures and illfed's alike, and their ratios stay."""
    rabbit = rabbitmq_pid()
    for name, part in parts.items():
        print(f"  {name}: warming up {args.warmup:g} s", flush=True)
        await run_load(part.target, part.target.clients, part.probe, seconds=args.warmup)
    turns = max(1, args.turns)
    _signal_profiled(parts, args, signal.SIGUSR2)  # the start and warm-up not counted
    profilers = [
        p for part in parts.values() for p in _profile(part.target, args, len(parts) * args.seconds)
    ]
    for _ in range(turns):
        for part in parts.values():
            await part.busy_turn(args.seconds / turns, rabbit)
    for p in profilers:
        p.wait(timeout=60)
    _signal_profiled(parts, args, signal.SIGUSR1)  # the busy run's stacks written
    for name, part in parts.items():
        print(f"  {name}: {part.busy.hops} hops by {len(part.target.clients)} clients", flush=True)
    for i in range(turns):
        for part in parts.values():
            await part.lone_turn(args.lone // turns + (1 if i < args.lone % turns else 0))
    return {name: part.result(args) for name, part in parts.items()}


@contextlib.asynccontextmanager
async def started(name: str, args, folder: Path):
    """The part's target, running, with the probe its consumer reports to; stopped and
    removed afterwards."""
    probe, transport, probe_at = await open_probe()
    target: Target | None = None
    try:
        if name == "floor":
            target = await floor_target(folder, args.clients, probe_at)
        else:
            target = await illfed_target(folder, args.clients, probe_at, args.cpu_profile)
        yield Part(target, probe)
    except BaseException:
        if target is not None:
            for p in target.procs():
                if p is not None:
                    print(f"--- {p.name} log:\n{p.tail()}", file=sys.stderr)
        raise
    finally:
        transport.close()
        if target is not None:
            for p in target.procs():
                if p is not None:
                    p.stop()
            for undo in target.cleanup:
                with contextlib.suppress(Exception):
                    await undo()


# ---------------------------------------------------------------- the table


CPU_ROWS = (
    ("publisher", "CPU ms/hop: the publishing service"),
    ("consumer", "CPU ms/hop: the consumer"),
    ("postgres", "CPU ms/hop: PostgreSQL backends"),
    ("rabbitmq", "CPU ms/hop: RabbitMQ (whole broker)"),
    ("driver", "CPU ms/hop: the bench's clients"),
)


def rows(
    results: dict[str, dict], clients: int
) -> list[tuple[str, float | None, float | None, str]]:
    """(figure, floor, illfed, ratio) rows; the ratio is illfed's share of the floor's
    throughput, or how many times the floor's latency, CPU or memory illfed takes."""
    f, i = results.get("floor"), results.get("illfed")

    def get(r, *path):
        if r is None:
            return None
        for p in path:
            r = r.get(p) if isinstance(r, dict) else None
        return r

    def ratio(a, b, fmt):
        return fmt.format(b / a) if a and b is not None else ""

    out = [
        (f"hops/s, {clients} clients", get(f, "hops_per_s"), get(i, "hops_per_s"), "{:.2f}"),
        (
            "lone client, end to end p50 ms",
            get(f, "lone_e2e_p50_ms"),
            get(i, "lone_e2e_p50_ms"),
            "{:.1f}x",
        ),
        (
            "lone client, end to end p95 ms",
            get(f, "lone_e2e_p95_ms"),
            get(i, "lone_e2e_p95_ms"),
            "{:.1f}x",
        ),
        (
            "lone client, POST answered p50 ms",
            get(f, "lone_api_p50_ms"),
            get(i, "lone_api_p50_ms"),
            "{:.1f}x",
        ),
    ]
    for key, label in CPU_ROWS:
        out.append((label, get(f, "cpu_ms_per_hop", key), get(i, "cpu_ms_per_hop", key), "{:.1f}x"))
    total = [
        sum(get(r, "cpu_ms_per_hop", k) or 0 for k in ("publisher", "consumer", "postgres"))
        if r
        else None
        for r in (f, i)
    ]
    out.append(("CPU ms/hop: services + PostgreSQL", total[0], total[1], "{:.1f}x"))
    out.append(
        (
            "peak RSS MB: the publishing service",
            get(f, "peak_rss_mb", "publisher"),
            get(i, "peak_rss_mb", "publisher"),
            "{:.1f}x",
        )
    )
    out.append(
        (
            "peak RSS MB: the consumer",
            get(f, "peak_rss_mb", "consumer"),
            get(i, "peak_rss_mb", "consumer"),
            "{:.1f}x",
        )
    )
    return [(label, a, b, ratio(a, b, fmt)) for label, a, b, fmt in out]


def print_table(table: list[tuple[str, float | None, float | None, str]]) -> None:
    def num(v):
        return "" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")

    width = max(38, *(len(label) for label, *_ in table))
    print(f"| {'figure':<{width}} | {'floor':>8} | {'illfed':>8} | {'ratio':>6} |")
    print(f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    for label, a, b, r in table:
        print(f"| {label:<{width}} | {num(a):>8} | {num(b):>8} | {r:>6} |")


def record(results: dict, path: Path = RESULTS, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra, **results}
    with open(path, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench hop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--parts", default="floor,illfed", help="floor, illfed or both (default)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the busy run")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    p.add_argument("--lone", type=int, default=300, help="hops of the lone client")
    p.add_argument(
        "--turns",
        type=int,
        default=4,
        help="the busy run and the lone client's hops in this many turns, the parts taking "
        "turns (default 4)",
    )
    p.add_argument("--label", default="", help="a note stored with the results")
    p.add_argument(
        "--profile", default="", help="folder for py-spy profiles of the busy run (raw stacks)"
    )
    p.add_argument("--py-spy", default="py-spy", help="the py-spy to profile with")
    p.add_argument(
        "--cpu-profile",
        default="",
        help="folder for illfed's units' stacks of the busy run, sampled on each unit's own "
        "CPU clock (bench.cpu_profile); their frames are printed",
    )
    return p


async def run(args) -> dict[str, dict]:
    names = [p.strip() for p in args.parts.split(",") if p.strip()]
    with tempfile.TemporaryDirectory(prefix="illfed-hop-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            parts = {}
            for name in names:
                print(f"hop: {name}", flush=True)
                parts[name] = await stack.enter_async_context(started(name, args, Path(tmp)))
            return await measure(parts, args)


async def main() -> None:
    args = parser().parse_args()
    results = await run(args)
    print_table(rows(results, args.clients))
    if args.cpu_profile:
        cpu_profile.print_folder(args.cpu_profile)
    record({"hop": results}, bench="hop", label=args.label)
    print(f"results appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
