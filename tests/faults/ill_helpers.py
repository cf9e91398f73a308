"""A distributed inter-library loan federation for fault tests: the union catalogue, the
consortium's request broker (``requests``), the notifier and four libraries (HKU and EdUHK of
HKALL, UM and KWNC of MALA), each its own OS process started the way ``python -m
deploy.launch up`` starts them (forked from one process that imported the services once,
each then running ``serve-unit``), on free ports, against databases and a
RabbitMQ virtual host of their own, so that a test can SIGKILL any one of them and start it
again while loans go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.queues import federation_queues
from libs.common.db import drop_database, ensure_database, pg_url
from libs.common.federation import Federation, load_federation
from libs.common.messaging import broker_password
from libs.common.messaging.broker_admin import delete_vhost, setup_broker
from libs.common.messaging.topology import principals
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from tests.faults.proc_helpers import RABBIT, ROOT, Unit, free_port

#: (code, consortium): each library borrows from the other member of its consortium
LIBRARIES = (("hku", "HKALL"), ("eduhk", "HKALL"), ("um", "MALA"), ("kwnc", "MALA"))
CONSORTIA = {
    "HKALL": ("Hong Kong Academic Library Link", "HKD", "Asia/Hong_Kong", "hkall"),
    "MALA": ("Macau Academic Library Alliance", "MOP", "Asia/Macau", "mala"),
}
SERVICE_POINT = "main"
OPERATOR = "operator"


def federation_toml(ports: dict[str, int]) -> str:
    out = [
        '[federation]\nname = "ILL fault-test federation"\nhost = "127.0.0.1"',
        f"[services.catalog]\nport = {ports['catalog']}",
        f"[services.requests]\nport = {ports['requests']}",
        f"[services.notifier]\nport = {ports['notifier']}\nsmtp_port = {ports['smtp']}",
    ]
    for code, (name, currency, tz, policy) in CONSORTIA.items():
        out.append(
            f'[consortia.{code}]\nname = "{name}"\ncurrency = "{currency}"\n'
            f'timezone = "{tz}"\npolicy = "{policy}"'
        )
    for code, consortium in LIBRARIES:
        out.append(
            f'[[libraries]]\ncode = "{code}"\nname = "{code.upper()} Library"\n'
            f'consortium = "{consortium}"\nport = {ports[code]}\n'
            f'email = "ill@{code}.example.edu"\n'
            f'service_points = [{{ code = "{SERVICE_POINT}", name = "{code.upper()} counter" }}]'
        )
    out.append(f'[[operators]]\nclient_id = "{OPERATOR}"\nname = "Operations"')
    return "\n\n".join(out) + "\n"


@dataclass
class IllFederation:
    folder: Path
    fed: Federation
    vhost: str
    admin_url: str
    db: dict[str, str] = field(default_factory=dict)  # unit key -> database URL
    units: dict[str, Unit] = field(default_factory=dict)
    forker: Forker | None = None

    @property
    def broker(self) -> Unit:
        return self.units["requests"]

    @property
    def catalog(self) -> Unit:
        return self.units["catalog"]

    def library(self, code: str) -> Unit:
        return self.units[f"circulation-{code}"]

    @property
    def libraries(self) -> list[str]:
        return [code for code, _ in LIBRARIES]

    def consortium(self, code: str) -> str:
        return dict(LIBRARIES)[code]

    def partner(self, code: str) -> str:
        """The other member of ``code``'s consortium: the lender of its patrons' loans."""
        c = self.consortium(code)
        return next(other for other, oc in LIBRARIES if oc == c and other != code)

    def log_events(self) -> Counter:
        """(unit, event) -> count of the warnings and errors the units logged: what the
        processes went through (retries, dead letters, failed passes)."""
        seen: Counter = Counter()
        for key, unit in self.units.items():
            if not unit.log.exists():
                continue
            for line in unit.log.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("warning", "error"):
                    event = str(entry.get("event", "?"))
                    if "too many clients" in str(entry.get("error", "")):
                        event += " (PostgreSQL: too many clients)"
                    seen[(key, event)] += 1
        return seen

    async def restart(self, unit: Unit, *, down_for: float = 0.0) -> str:
        """SIGKILL ``unit``, leave it down ``down_for`` seconds, start it and wait until
        ready; says how long each part took."""
        t0 = time.monotonic()
        unit.kill()
        t1 = time.monotonic()
        if down_for:
            await asyncio.sleep(down_for)
        unit.start()
        t2 = time.monotonic()
        await unit.wait_ready(timeout=120.0)
        took = f"killed in {t1 - t0:.1f}s, forked in {t2 - t1 - down_for:.1f}s, ready in "
        took += f"{time.monotonic() - t2:.1f}s"
        if isinstance(unit, ForkedUnit) and time.monotonic() - t2 > 5:
            took += f" (it said: {unit.not_ready})"
        return took


def _write_federation(folder: Path, ports: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fed_file = folder / "federation.toml"
    fed_file.write_text(federation_toml(ports))
    return fed_file


class Forker:
    """The forking process (:mod:`tests.faults.forker`): asked to start a unit, it forks one
    and answers its pid."""

    def __init__(self, folder: Path) -> None:
        self.errors = open(folder / "forker.log", "ab")  # closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.forker"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )

    def ready(self) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the forking process did not start")

    def fork(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        """Its children are stopped (SIGTERM) when its standard input closes."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.errors.close()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


@dataclass
class ForkedUnit(Unit):
    """A unit forked by the :class:`Forker`; killed and stopped by its pid."""

    forker: Forker | None = None
    pid: int | None = None
    not_ready: str = ""  # the last answer of /ready while it was starting

    def start(self, **extra_env: str) -> None:
        assert not self.alive(), f"{self.key} is running"
        assert self.forker is not None
        self.pid = self.forker.fork(self.argv, {**self.env, **extra_env}, self.log)

    def _signal(self, sig: signal.Signals, wait: float) -> bool:
        if self.pid is None or not _running(self.pid):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        end = time.monotonic() + wait
        while _running(self.pid):
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acks, no last commit."""
        self._signal(signal.SIGKILL, 10)

    def stop(self) -> None:
        if not self._signal(signal.SIGTERM, 15):
            self.kill()

    def alive(self) -> bool:
        return self.pid is not None and _running(self.pid)

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.key} exited: {self.tail()}")
                try:
                    res = await client.get(self.url + "/ready")
                    if res.status_code == 200:
                        return
                    self.not_ready = res.text[:300]
                except httpx.HTTPError as exc:
                    self.not_ready = repr(exc)
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.key} not ready after {timeout:.0f}s: {self.tail()}")


async def start_ill_federation(folder: Path) -> IllFederation:
    """Databases (migrated), broker users and topology, then every unit started and ready."""
    names = ["catalog", "requests", "notifier", "smtp", *(c for c, _ in LIBRARIES)]
    ports = {k: free_port() for k in names}
    fed_file = _write_federation(folder, ports)
    fed = load_federation(fed_file)
    vhost = f"illfed-ill-faults-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    admin_url = f"amqp://guest:guest@{RABBIT}/{vhost}"
    tf = IllFederation(folder, fed, vhost, admin_url)
    passwords = {p: broker_password(DEV_SECRET, p) for p in principals(fed)}
    tag = uuid.uuid4().hex[:8]
    keys = [
        ("catalog", "catalog", ports["catalog"]),
        ("requests", "requests", ports["requests"]),
        ("notifier", "notifier", ports["notifier"]),
        *((f"circulation-{c}", "circulation", ports[c]) for c, _ in LIBRARIES),
    ]
    for key, _, _ in keys:
        tf.db[key] = pg_url(f"illfed_illfaults_{tag}_{key.replace('-', '_')}")
    # The services are imported once, while the databases and the broker are prepared.
    tf.forker = Forker(folder)
    try:
        await setup_broker(admin_url, passwords, federation_queues(fed), fed)
        # CREATE DATABASE waits on a disk flush: all at once they share the waits; alembic
        # runs one migration at a time in a process (as the launcher runs them).
        await asyncio.gather(*(ensure_database(tf.db[key]) for key, _, _ in keys))
        for key, service, _ in keys:
            await upgrade(service, tf.db[key])
        for key, service, port in keys:
            prefix = f"ILLFED_{service.upper()}_"
            env = {
                f"{prefix}DATABASE_URL": tf.db[key],
                f"{prefix}BUS_URL": f"amqp://{RABBIT}/{vhost}",
                f"{prefix}SECRET_KEY": DEV_SECRET,
                f"{prefix}ENVIRONMENT": "development",
                f"{prefix}LOG_LEVEL": "WARNING",
                "ILLFED_DATA_DIR": str(folder),
            }
            argv = ["--federation", str(fed_file), "--data", str(folder), "serve-unit", key]
            tf.units[key] = ForkedUnit(
                key, service, port, env, argv, folder / f"{key}.log", forker=tf.forker
            )
        tf.forker.ready()
        for unit in tf.units.values():
            unit.start()
        for unit in tf.units.values():
            await unit.wait_ready(timeout=180.0)
    except BaseException:
        await stop_ill_federation(tf)
        raise
    return tf


async def stop_ill_federation(tf: IllFederation) -> None:
    for unit in tf.units.values():
        unit.stop()
    if tf.forker is not None:
        tf.forker.close()
    for url in tf.db.values():
        await drop_database(url)
    await delete_vhost(tf.vhost)
