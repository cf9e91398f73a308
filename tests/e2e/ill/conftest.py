"""One small ILL federation per way of running, started once for this package's tests and
stopped after them: HKALL's EdUHK (two service points), HKU and HKBU, MALA's UM and KWNC, with
the broker, catalogue and notifier. The embedded one is ``deploy.launch run`` (one process,
SQLite, in-process bus); the distributed one is ``deploy.launch up`` (a process per service and
library, PostgreSQL, RabbitMQ on a virtual host of its own). Tests drive them through the
public APIs only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from deploy.units import JOB_EVERY
from libs.common.clock import CLOCK_FILE, SharedOffsetClock
from libs.common.db import drop_database, pg_url
from libs.common.federation import Federation, load_federation
from libs.common.messaging.broker_admin import delete_vhost

ROOT = Path(__file__).resolve().parents[3]
LIBRARIES = [
    (
        "eduhk",
        "The Education University of Hong Kong Library",
        "HKALL",
        "401",
        '[{ code = "mmw", name = "MMW Library circulation counter" }, '
        '{ code = "tko", name = "Tseung Kwan O Study Centre Library" }]',
    ),
    (
        "hku",
        "The University of Hong Kong Libraries",
        "HKALL",
        "402",
        '[{ code = "main", name = "Main Library" }]',
    ),
    (
        "hkbu",
        "Hong Kong Baptist University Library",
        "HKALL",
        "403",
        '[{ code = "main", name = "Au Shue Hung Memorial Library" }]',
    ),
    (
        "um",
        "University of Macau Library",
        "MALA",
        "411",
        '[{ code = "main", name = "Wu Yee Sun Library" }]',
    ),
    (
        "kwnc",
        "Kiang Wu Nursing College of Macau Library",
        "MALA",
        "413",
        '[{ code = "main", name = "KWNC Library" }]',
    ),
]
#: lenders whose staff answer every request themselves (the others answer at once when a copy
#: of their own is AVAILABLE): the tests play their staff, or leave them silent
STAFF_DECIDE = {"hkbu"}
CONSORTIA = {
    "HKALL": ("Hong Kong Academic Library Link", "HKD", "Asia/Hong_Kong", "hkall"),
    "MALA": ("Macau Academic Library Alliance", "MOP", "Asia/Macau", "mala"),
}


def federation_toml(base: int) -> str:
    out = [
        '[federation]\nname = "ILL test federation"\nhost = "127.0.0.1"',
        f"[services.catalog]\nport = {base}100",
        f"[services.requests]\nport = {base}200",
        f"[services.notifier]\nport = {base}300\nsmtp_port = {base}025",
    ]
    for code, (name, currency, tz, policy) in CONSORTIA.items():
        out.append(
            f'[consortia.{code}]\nname = "{name}"\ncurrency = "{currency}"\n'
            f'timezone = "{tz}"\npolicy = "{policy}"'
        )
    for code, name, consortium, port, points in LIBRARIES:
        out.append(
            f'[[libraries]]\ncode = "{code}"\nname = "{name}"\nconsortium = "{consortium}"\n'
            f'port = {base}{port}\nemail = "ill@{code}.example.edu"\nservice_points = {points}'
            + ("\nill_auto_accept = false" if code in STAFF_DECIDE else "")
        )
    out.append('[[operators]]\nclient_id = "operator"\nname = "Operations"')
    return "\n\n".join(out) + "\n"


@dataclass
class RunningFederation:
    way: str
    fed: Federation
    path: Path
    proc: subprocess.Popen
    output: list[str]
    databases: dict[str, str]

    def move_clock(self, delta: timedelta) -> None:
        """Every process of the federation is ``delta`` later at once (the clock moved, not
        slept)."""
        SharedOffsetClock.move(str(self.path.with_name("clock")), delta)


def _start(tmp: Path, base: int, *args: str) -> tuple[subprocess.Popen, list[str]]:
    path = tmp / "federation.toml"
    path.write_text(federation_toml(base))
    # The tests move this federation's clock by days (every process reads the file) and its
    # daily jobs look every second.
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        CLOCK_FILE: str(tmp / "clock"),
        JOB_EVERY: "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy.launch",
            "--federation",
            str(path),
            "--data",
            str(tmp / "data"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        out.append(line)
        if "/mailbox" in line:
            _keep_reading(proc, path.with_name("federation.log"))
            return proc, out
    proc.kill()
    pytest.fail("the ILL federation did not start:\n" + "".join(out))


def _keep_reading(proc: subprocess.Popen, log: Path) -> None:
    """Everything the federation prints from now on goes to ``log`` (next to its file, to
    explain a failure): read as it comes, so the pipe never fills and blocks the processes."""

    def copy() -> None:
        with log.open("a") as f:
            for line in proc.stdout:
                f.write(line)
                f.flush()

    threading.Thread(target=copy, name="federation-log", daemon=True).start()


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="package")
def embedded_federation(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ill-embedded")
    proc, out = _start(tmp, 18, "run")
    try:
        yield RunningFederation(
            "embedded",
            load_federation(tmp / "federation.toml"),
            tmp / "federation.toml",
            proc,
            out,
            {},
        )
    finally:
        _stop(proc)


@pytest.fixture(scope="package")
def distributed_federation(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ill-distributed")
    tag = uuid.uuid4().hex[:6]
    vhost, prefix = f"illfed-e2e-{tag}", f"illfed_e2e_{tag}"
    keys = ["catalog", "requests", "notifier", *(f"circulation_{lib[0]}" for lib in LIBRARIES)]
    databases = {k: pg_url(f"{prefix}_{k}") for k in keys}
    proc, out = _start(tmp, 19, "up", "--vhost", vhost, "--db-prefix", prefix)
    try:
        yield RunningFederation(
            "distributed",
            load_federation(tmp / "federation.toml"),
            tmp / "federation.toml",
            proc,
            out,
            databases,
        )
    finally:
        _stop(proc)

        async def clean() -> None:
            for url in databases.values():
                await drop_database(url)
            await delete_vhost(vhost)

        asyncio.run(clean())


@pytest.fixture(params=["embedded", "distributed"])
def federation(request) -> RunningFederation:
    """Each test that takes it runs against both ways of running."""
    return request.getfixturevalue(f"{request.param}_federation")
