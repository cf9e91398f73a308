"""A distributed federation for the ILL benchmarks, from a generated federation file: any
number of member libraries, of which only the units asked for are started, each its own OS
process (forked from one process that imported the services once, as ``deploy.launch up``
starts them, each then running ``serve-unit``), on ports 20000-20999, against databases and a
RabbitMQ virtual host of its own, removed afterwards.

The broker and the catalogue know every member from the file; a member whose process is not
started simply never answers (its queue fills), which is all a routing measurement needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from deploy.queues import federation_queues
from libs.common.db import drop_database, ensure_database, pg_url
from libs.common.federation import Federation, load_federation
from libs.common.messaging import broker_password
from libs.common.messaging.broker_admin import delete_vhost, setup_broker
from libs.common.messaging.topology import principals
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from tests.faults.ill_helpers import ForkedUnit, Forker

RABBIT = "127.0.0.1:5672"
#: the benchmarks' federations listen here, clear of the test suites' ports; two benchmarks run
#: at once are given halves of it (``ILLFED_BENCH_PORTS=20500-20999``) so neither takes the
#: other's ports between probing one and binding it
_lo, _, _hi = os.environ.get("ILLFED_BENCH_PORTS", "20000-20999").partition("-")
PORTS = range(int(_lo), int(_hi) + 1)
SERVICE_POINT = "main"
OPERATOR = "operator"
CONSORTIA = {
    "HKALL": ("Hong Kong Academic Library Link", "HKD", "Asia/Hong_Kong", "hkall"),
    "MALA": ("Macau Academic Library Alliance", "MOP", "Asia/Macau", "mala"),
}


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports(start: int = PORTS.start) -> Iterator[int]:
    """Free ports of the benchmarks' range, in order."""
    for port in range(start, PORTS.stop):
        if _free(port):
            yield port
    raise RuntimeError(f"no free port left in {PORTS.start}-{PORTS.stop - 1}")


def federation_toml(libraries: list[tuple[str, str]], port: Iterator[int]) -> str:
    """A federation file for ``libraries`` ((code, consortium) pairs), every port from
    ``port``. Every member's policy answers a request at once from an AVAILABLE copy."""
    out = [
        '[federation]\nname = "ILL bench federation"\nhost = "127.0.0.1"',
        f"[services.catalog]\nport = {next(port)}",
        f"[services.requests]\nport = {next(port)}",
        f"[services.notifier]\nport = {next(port)}\nsmtp_port = {next(port)}",
    ]
    for code in sorted({c for _, c in libraries}):
        name, currency, tz, policy = CONSORTIA[code]
        out.append(
            f'[consortia.{code}]\nname = "{name}"\ncurrency = "{currency}"\n'
            f'timezone = "{tz}"\npolicy = "{policy}"'
        )
    for code, consortium in libraries:
        out.append(
            f'[[libraries]]\ncode = "{code}"\nname = "{code.upper()} Library"\n'
            f'consortium = "{consortium}"\nport = {next(port)}\n'
            f'email = "ill@{code}.example.edu"\n'
            f'service_points = [{{ code = "{SERVICE_POINT}", name = "{code.upper()} counter" }}]'
        )
    out.append(f'[[operators]]\nclient_id = "{OPERATOR}"\nname = "Operations"')
    return "\n\n".join(out) + "\n"


@dataclass
class BenchFederation:
    folder: Path
    fed: Federation
    path: Path
    vhost: str
    members: list[tuple[str, str]]
    db: dict[str, str] = field(default_factory=dict)  # unit key -> database URL
    units: dict[str, ForkedUnit] = field(default_factory=dict)
    forker: Forker | None = None

    # What tests.faults.ill_driver.Driver asks of a federation.
    @property
    def catalog(self) -> ForkedUnit:
        return self.units["catalog"]

    @property
    def broker(self) -> ForkedUnit:
        return self.units["requests"]

    @property
    def libraries(self) -> list[str]:
        return [k.split("-", 1)[1] for k in self.units if k.startswith("circulation-")]

    def consortium(self, code: str) -> str:
        return dict(self.members)[code]

    def partner(self, code: str) -> str:
        """The next running member of ``code``'s consortium: its patrons' lender."""
        c = self.consortium(code)
        running = [m for m in self.libraries if self.consortium(m) == c]
        return running[(running.index(code) + 1) % len(running)]

    def pids(self) -> dict[str, int]:
        return {k: u.pid for k, u in self.units.items() if u.pid is not None}

    async def outbox_counts(self) -> dict[str, int]:
        """Rows in each started unit's outbox by routing key, summed: the messages sent."""
        total: dict[str, int] = {}
        for url in self.db.values():
            conn = await asyncpg.connect(
                host="127.0.0.1", user="postgres", database=url.rsplit("/", 1)[-1]
            )
            try:
                for row in await conn.fetch(
                    "SELECT routing_key, count(*) AS n FROM outbox GROUP BY routing_key"
                ):
                    total[row["routing_key"]] = total.get(row["routing_key"], 0) + row["n"]
            finally:
                await conn.close()
        return total


def _write(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "federation.toml"
    path.write_text(toml)
    return path


async def start(
    folder: Path,
    members: list[tuple[str, str]],
    running: list[str],
    *,
    services: tuple[str, ...] = ("catalog", "requests", "notifier"),
    before_start=None,
    unit_env=None,
) -> BenchFederation:
    """The federation of ``members``, with the services and the ``running`` libraries started
    and ready. ``before_start(bf)`` runs once the databases are migrated (to load a
    catalogue); ``unit_env(key)`` gives a unit more environment."""
    path = _write(folder, federation_toml(members, ports()))
    fed = load_federation(path)
    tag = uuid.uuid4().hex[:8]
    bf = BenchFederation(folder, fed, path, f"illfed-bench-ill-{tag}", members)
    keys = [*services, *(f"circulation-{code}" for code in running)]
    port_of = {"catalog": fed.services["catalog"].port, "requests": fed.services["requests"].port}
    port_of["notifier"] = fed.services["notifier"].port
    for lib in fed.libraries:
        port_of[f"circulation-{lib.code}"] = lib.port
    for key in keys:
        bf.db[key] = pg_url(f"illfed_bench_ill_{tag}_{key.replace('-', '_')}")
    bf.forker = Forker(folder)
    try:
        admin = f"amqp://guest:guest@{RABBIT}/{bf.vhost}"
        passwords = {p: broker_password(DEV_SECRET, p) for p in principals(fed)}
        await setup_broker(admin, passwords, federation_queues(fed), fed)
        await asyncio.gather(*(ensure_database(bf.db[k]) for k in keys))
        for key in keys:
            await upgrade(key.split("-")[0], bf.db[key])
        if before_start is not None:
            await before_start(bf)
        for key in keys:
            service = key.split("-")[0]
            prefix = f"ILLFED_{service.upper()}_"
            env = {
                f"{prefix}DATABASE_URL": bf.db[key],
                f"{prefix}BUS_URL": f"amqp://{RABBIT}/{bf.vhost}",
                f"{prefix}SECRET_KEY": DEV_SECRET,
                f"{prefix}ENVIRONMENT": "development",
                f"{prefix}LOG_LEVEL": "WARNING",
                "ILLFED_DATA_DIR": str(folder),
                **(unit_env(key) if unit_env else {}),
            }
            argv = ["--federation", str(path), "--data", str(folder), "serve-unit", key]
            bf.units[key] = ForkedUnit(
                key, service, port_of[key], env, argv, folder / f"{key}.log", forker=bf.forker
            )
        bf.forker.ready()
        for unit in bf.units.values():
            unit.start()
        for unit in bf.units.values():
            await unit.wait_ready(timeout=180.0)
    except BaseException:
        await stop(bf)
        raise
    return bf


async def stop(bf: BenchFederation) -> None:
    for unit in bf.units.values():
        unit.stop()
    if bf.forker is not None:
        bf.forker.close()
    for url in bf.db.values():
        with contextlib.suppress(Exception):
            await drop_database(url)
    with contextlib.suppress(Exception):
        await delete_vhost(bf.vhost)
