"""Start the federation.

    python -m deploy.launch run    # embedded: every service and library in this one process,
                                   # SQLite files under data/, the in-process bus (make run)
    python -m deploy.launch up     # distributed: one process per service and per library,
                                   # PostgreSQL and RabbitMQ on this machine (make up)

Each unit of the distributed way runs on uvloop, its HTTP parsed by httptools.

Both read deploy/federation.toml, seed the demo consortium once, print the URLs and stop
cleanly on Ctrl-C. Running again keeps the data.
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
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import uvloop

from deploy.forking import UNITS_ENV, serve_forked
from deploy.prepare import MIGRATED, Steps, check_servers, prepare
from deploy.queues import federation_queues
from deploy.units import Unit, build_unit, units
from libs.common.auth import client_secret
from libs.common.clock import Clock, clock_from_environment
from libs.common.federation import Federation, load_federation
from libs.common.logs import configure_logging
from libs.common.messaging import broker_password, connect_bus
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.topology import principals
from libs.common.migrate import is_current, upgrade
from libs.common.process import Server, keep_startup_objects
from libs.common.service import ServiceRuntime
from libs.common.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[1]


class _QuietServer(Server):
    """Several servers share one process: the launcher handles Ctrl-C for all of them."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def _server(app, host: str, port: int) -> _QuietServer:
    return _QuietServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            lifespan="off",
            log_level="warning",
            # uvicorn's own log format would print its tracebacks as raw text: ours renders JSON.
            log_config=None,
        )
    )


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _print_urls(fed: Federation, all_units: list[Unit], mode: str, extra: list[str]) -> None:
    host = fed.federation.host
    print(f"\nillfed is running ({mode}). Ctrl-C stops it.\n", flush=True)
    start = f"http://{host}:{fed.services['requests'].port}/start/"
    print(f"  {'start page (portals, desks, dashboard, mailbox, API docs)':58} {start}\n")
    for u in all_units:
        name = u.key if not u.library else f"circulation {fed.library(u.library).name}"
        base = f"http://{host}:{u.port}"
        print(f"  {name:58} {base}/docs   health {base}/health   ready {base}/ready")
    for line in extra:
        print(f"  {line}")
    print("", flush=True)


async def _seed(fed: Federation, all_units: list[Unit], urls: dict[str, str]) -> None:
    from deploy.seed import seed_federation
    from services.catalog.seed import seed_catalogue

    await seed_federation(fed, urls)
    await seed_catalogue(fed, urls["catalog"])


@dataclass
class Embedded:
    """A running embedded federation: every unit's runtime and server in this process."""

    fed: Federation
    broker: MemoryBroker
    clock: Clock
    runtimes: dict[str, ServiceRuntime]
    servers: list[_QuietServer]
    tasks: list[asyncio.Task]

    async def stop(self) -> None:
        for s in self.servers:
            s.should_exit = True
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for rt in self.runtimes.values():
            await rt.close()


async def start_embedded(
    fed: Federation, data_dir: Path, secret_key: str, clock: Clock | None = None
) -> Embedded:
    """Migrate, seed once, and start every unit of ``fed`` on SQLite files in ``data_dir`` and
    one in-process bus; returns once every server listens."""
    _demo_mailbox_on()
    _demo_signins_on()
    all_units = units(fed)
    urls = {u.key: u.sqlite_url(data_dir) for u in all_units}
    for u in all_units:
        await upgrade(u.service, urls[u.key])
    await _seed(fed, all_units, urls)
    broker = MemoryBroker()
    broker.declare(federation_queues(fed))
    clock = clock or clock_from_environment()
    extras = _notifier_extras(fed, data_dir)
    runtimes: dict[str, ServiceRuntime] = {}
    servers = []
    for u in all_units:
        bus = await connect_bus("memory", u.principal, secret_key, broker)
        rt, app = await build_unit(
            u, fed, urls[u.key], bus, clock, secret_key, extras if u.service == "notifier" else None
        )
        runtimes[u.key] = rt
        servers.append(_server(app, fed.federation.host, u.port))
    for rt in runtimes.values():
        await rt.start()
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            raise SystemExit("a service could not start (is its port already in use?)")
        await asyncio.sleep(0.05)
    return Embedded(fed, broker, clock, runtimes, servers, tasks)


async def run_embedded(fed: Federation, data_dir: Path, secret_key: str) -> None:

    configure_logging("illfed", os.environ.get("ILLFED_LOG_LEVEL", "WARNING"))
    running = await start_embedded(fed, data_dir, secret_key)
    keep_startup_objects()
    all_units = units(fed)
    _print_urls(fed, all_units, "embedded", _mailbox_line(fed, secret_key))
    await _stop_event().wait()
    print("stopping…", flush=True)
    await running.stop()
    print("stopped.", flush=True)


MAILBOX_SETTING = "ILLFED_NOTIFIER_MAILBOX_ENABLED"


def _mailbox_line(fed: Federation, secret_key: str) -> list[str]:
    port = fed.services["notifier"].smtp_port or 2525
    page = f"http://{fed.federation.host}:{fed.services['notifier'].port}/mailbox"
    lines = [f"{'mailbox (local SMTP server on port ' + str(port) + ')':58} {page}"]
    if os.environ.get(MAILBOX_SETTING, "").lower() not in ("1", "true", "yes", "on"):
        return [*lines, f"{'':58} (off: {MAILBOX_SETTING} is not set)"]
    # The mails hold patrons' addresses: the page asks for an operator's client id and
    # secret (HTTP Basic); the API takes an operator's token too.
    for op in fed.operators:
        secret = client_secret(secret_key, op.client_id)
        lines.append(f"{'':58} sign in as operator: user {op.client_id}, password {secret}")
    return lines


DEMO_SIGNINS_SETTING = "ILLFED_REQUESTS_DEMO_SIGNINS"


def _demo_signins_on() -> None:
    """The embedded demo's start page shows the demo sign-ins (the client secrets are the
    development ones, derived from the deployment secret)."""
    os.environ.setdefault(DEMO_SIGNINS_SETTING, "true")


def _demo_mailbox_on() -> None:
    """The demo federation's mailbox is readable by its operators unless told otherwise."""
    os.environ.setdefault(MAILBOX_SETTING, "true")


def _notifier_extras(fed: Federation, data_dir: Path) -> dict:
    """The demo federation's notices go to a local SMTP server the notifier starts."""
    return {
        "mailbox_port": fed.services["notifier"].smtp_port or 2525,
        "mailbox_folder": data_dir / "mailbox",
        "poll_interval": 1.0,
    }


# ---------------------------------------------------------------- distributed


async def prepare_distributed(
    fed: Federation,
    settings: CommonSettings,
    bus_url: str,
    admin_url: str,
    db_prefix: str,
    steps: Steps | None = None,
) -> dict[str, str]:
    """Databases with migrations, broker users and topology, the demo seed: idempotent, in
    parallel where it can, each step shown as it goes."""
    from deploy.seed import seed_library
    from libs.common.messaging.broker_admin import setup_broker
    from services.catalog.seed import seed_catalogue

    all_units = units(fed)
    urls = {u.key: u.pg_url(db_prefix) for u in all_units}
    passwords = {p: broker_password(settings.secret_key, p) for p in principals(fed)}
    seed = [
        *(seed_library(fed, lib.code, urls[f"circulation-{lib.code}"]) for lib in fed.libraries),
        seed_catalogue(fed, urls["catalog"]),
    ]
    with steps or Steps() as shown:
        await prepare(
            shown,
            all_units,
            urls,
            lambda: setup_broker(admin_url, passwords, federation_queues(fed), fed),
            seed,
        )
    return urls


async def run_distributed(
    federation_path: str | None,
    fed: Federation,
    data_dir: Path,
    settings: CommonSettings,
    rabbit: str,
    vhost: str,
    db_prefix: str,
) -> None:
    configure_logging("illfed", "WARNING")
    _demo_mailbox_on()  # the notifier process inherits it
    admin_url = f"amqp://guest:guest@{rabbit}/{vhost}"
    bus_url = f"amqp://{rabbit}/{vhost}"
    started = time.monotonic()
    print(f"preparing {fed.federation.name} on PostgreSQL and RabbitMQ…", flush=True)
    await check_servers(admin_url=admin_url)
    steps = Steps()
    urls = await prepare_distributed(fed, settings, bus_url, admin_url, db_prefix, steps)
    _compile_bytecode()
    all_units = units(fed)
    fed_args = ["--data", str(data_dir)]
    if federation_path:
        fed_args += ["--federation", str(federation_path)]
    envs = {}
    for u in all_units:
        prefix = f"ILLFED_{u.service.upper()}_"
        envs[u.key] = {
            f"{prefix}DATABASE_URL": urls[u.key],
            f"{prefix}BUS_URL": bus_url,
            f"{prefix}SECRET_KEY": settings.secret_key,
            f"{prefix}ENVIRONMENT": settings.environment,
        }
    # One process imports the services once and forks a process per unit (deploy.forking).
    procs: list[subprocess.Popen] = [
        subprocess.Popen(  # noqa: ASYNC220 - starting a child does not block
            [sys.executable, "-m", "deploy.launch", *fed_args, "serve-units"],
            cwd=ROOT,
            env={**os.environ, UNITS_ENV: json.dumps(envs), "ILLFED_DATA_DIR": str(data_dir)},
        )
    ]
    stop = _stop_event()
    try:
        with Steps() as shown:
            await _wait_ready(fed, all_units, procs, stop, shown)
        if not stop.is_set():
            _print_urls(
                fed,
                all_units,
                f"distributed, {len(all_units)} processes",
                _mailbox_line(fed, settings.secret_key),
            )
            print(f"ready in {time.monotonic() - started:.1f} s", flush=True)
            await stop.wait()
    finally:
        print("stopping…", flush=True)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        print("stopped.", flush=True)


def _compile_bytecode() -> None:
    """Compile the federation's code once, before a dozen processes import it at the same
    time: without bytecode (PYTHONDONTWRITEBYTECODE, a read-only or fresh checkout) each of
    them compiles every module again, which is most of its start-up time."""
    import compileall

    for package in ("libs", "services", "deploy"):
        compileall.compile_dir(ROOT / package, quiet=1, workers=1)


async def _wait_ready(
    fed: Federation,
    all_units: list[Unit],
    procs,
    stop: asyncio.Event,
    steps: Steps,
    limit: float = 120.0,
) -> None:
    import httpx

    pending = {u.key: f"http://{fed.federation.host}:{u.port}/ready" for u in all_units}
    task = steps.add(f"starting {len(all_units)} processes (ready)", len(all_units))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    async with httpx.AsyncClient(timeout=2.0) as client:
        while pending and not stop.is_set():
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"the federation's processes exited (code {p.returncode})")
            for key, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        del pending[key]
                        steps.advance(task)
            if loop.time() > deadline:
                raise SystemExit(f"not ready after {limit:.0f}s: {', '.join(pending)}")
            await asyncio.sleep(0.3)


def serve_unit(key: str, federation_path: str | None, host: str | None = None) -> None:
    """One unit as its own process (what `up` starts for each service and library)."""
    from libs.common.process import serve
    from libs.common.settings import service_settings

    fed = load_federation(federation_path)
    unit = next(u for u in units(fed) if u.key == key)
    settings = service_settings(unit.service)
    configure_logging(unit.key, settings.log_level)

    async def build():
        bus = await connect_bus(settings.bus_url, unit.principal, settings.secret_key)
        extras = None
        if unit.service == "notifier":
            extras = _notifier_extras(fed, Path(os.environ.get("ILLFED_DATA_DIR", "data")))
        return await build_unit(
            unit,
            fed,
            settings.database_url,
            bus,
            clock_from_environment(settings.environment),
            settings.secret_key,
            extras,
        )

    async def main():
        bind = host or os.environ.get("ILLFED_BIND_HOST") or fed.federation.host
        task = asyncio.create_task(serve(build, bind, unit.port))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # uvloop: the same asyncio API at a fraction of the CPU per socket operation.
    uvloop.run(main())


async def migrate_units(
    fed: Federation, keys: list[str], db_prefix: str | None, check: bool = False
) -> None:
    """Bring each unit's database to the newest schema, one after the other (a one-shot job:
    replicas never migrate, so two never race over one schema). The URL is the unit's
    ``ILLFED_<SERVICE>_DATABASE_URL`` or, with a prefix, the local PostgreSQL's."""
    from libs.common.settings import service_settings

    by_key = {u.key: u for u in units(fed)}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise SystemExit(f"no such unit: {', '.join(unknown)} (units: {', '.join(by_key)})")
    for key in keys or list(by_key):
        u = by_key[key]
        url = u.pg_url(db_prefix) if db_prefix else service_settings(u.service).database_url
        if check:
            if not await is_current(u.service, url):
                raise SystemExit(f"{key}: the database is not at the newest schema yet")
            continue
        await upgrade(u.service, url)
        print(f"{MIGRATED}{key}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--federation", default=None, help="federation file (deploy/federation.toml)"
    )
    parser.add_argument("--data", default=str(ROOT / "data"), help="folder for data files")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="embedded federation in one process")
    up = sub.add_parser("up", help="distributed federation on PostgreSQL and RabbitMQ")
    up.add_argument("--rabbit", default="127.0.0.1:5672")
    up.add_argument("--vhost", default="illfed")
    up.add_argument("--db-prefix", default="illfed")
    sub.add_parser("serve-units", help=argparse.SUPPRESS)
    unit = sub.add_parser("serve-unit", help="serve one unit (what a container runs)")
    unit.add_argument("key")
    unit.add_argument("--host", default=None, help="address to listen on (federation's host)")
    mig = sub.add_parser("migrate", help="migrate units' databases, then exit (a one-shot job)")
    mig.add_argument("keys", nargs="*", help="units (all when none): catalog, circulation-hku…")
    mig.add_argument("--db-prefix", default=None, help="the local PostgreSQL's databases")
    mig.add_argument(
        "--check", action="store_true", help="only tell (exit code) whether they are migrated"
    )
    args = parser.parse_args(argv)
    fed = load_federation(args.federation)
    data_dir = Path(args.data)
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.cmd == "serve-unit":
        serve_unit(args.key, args.federation, args.host)
    elif args.cmd == "serve-units":
        keys = [u.key for u in units(fed)]
        raise SystemExit(serve_forked(keys, lambda key: serve_unit(key, args.federation)))
    elif args.cmd == "migrate":
        asyncio.run(migrate_units(fed, args.keys, args.db_prefix, args.check))
    elif args.cmd == "run":
        settings = CommonSettings()
        asyncio.run(run_embedded(fed, data_dir, settings.secret_key))
    else:
        settings = CommonSettings()
        asyncio.run(
            run_distributed(
                args.federation, fed, data_dir, settings, args.rabbit, args.vhost, args.db_prefix
            )
        )


if __name__ == "__main__":
    main()
