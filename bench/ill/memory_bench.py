"""The embedded process's memory with the whole federation: ``python -m deploy.launch run``
(every service and library of ``deploy/federation.toml`` in one process, SQLite, the
in-process bus, the demo seed), on ports 20500-20999, with whole ILL loans driven through it.

Printed: the process's RSS once it is ready, and its peak RSS after ``--loans`` whole loans
(HKU ↔ CityU and KWNC ↔ MPU, ``--concurrency`` at a time, the fault tests' loan driver),
with the lifecycles/s it carried. The distributed way's memory per unit is in
``python -m bench ill`` (under ILL load) and ``python -m bench hop`` (under the hop load).

    python -m bench memory
    python -m bench memory --loans 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.hop import hop_bench
from bench.hop.measure import peak_rss_mb, rss_mb
from libs.common.federation import DEFAULT_PATH, load_federation
from tests.faults import ill_driver
from tests.faults.ill_driver import Driver

#: home -> lender among libraries whose only service point is "main" (the driver's)
PAIRS = {"hku": "cityu", "cityu": "hku", "kwnc": "mpu", "mpu": "kwnc"}


def whole_federation(folder: Path) -> Path:
    """deploy/federation.toml with its ports moved into 20500-20999."""
    text = DEFAULT_PATH.read_text()
    text = re.sub(r"(?m)^smtp_port = \d+", "smtp_port = 20999", text)
    text = re.sub(
        r"(?m)^port = (\d+)", lambda m: f"port = {20500 + int(m.group(1)) % 1000 - 100}", text
    )
    path = folder / "federation.toml"
    path.write_text(text)
    return path


class _Running:
    """What the loan driver asks of a federation, for the embedded one."""

    def __init__(self, path: Path) -> None:
        self.fed = load_federation(path)
        self.libraries = list(PAIRS)

        class _Catalog:
            url = self.fed.url(self.fed.services["catalog"].port)

        self.catalog = _Catalog()

    def partner(self, code: str) -> str:
        return PAIRS[code]


class PairsDriver(Driver):
    def plan(self, loans: int) -> list[tuple[str, str]]:
        homes = list(PAIRS)
        return [(homes[n % len(homes)], PAIRS[homes[n % len(homes)]]) for n in range(loans)]


def _start(folder: Path, path: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "deploy.launch", "--federation", str(path)]
    argv += ["--data", str(folder / "data"), "run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv,
        cwd=hop_bench.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    deadline = time.monotonic() + 300
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        out.append(line)
        if "/mailbox" in line:
            log = folder / "federation.log"

            def copy(log: Path = log) -> None:
                with log.open("a") as fh:
                    for rest in proc.stdout:  # type: ignore[union-attr]
                        fh.write(rest)

            threading.Thread(target=copy, daemon=True).start()
            return proc
    proc.kill()
    raise RuntimeError("the embedded federation did not start:\n" + "".join(out[-40:]))


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(args) -> dict:
    ill_driver.POLL_FIRST = args.poll
    ill_driver.POLL_MAX = max(args.poll, 0.5)
    with tempfile.TemporaryDirectory(prefix="illfed-bench-embedded-") as tmp:
        folder = Path(tmp)
        path = whole_federation(folder)
        t0 = time.monotonic()
        proc = _start(folder, path)
        try:
            ready_s = time.monotonic() - t0
            idle = rss_mb(proc.pid)
            units = 3 + len(load_federation(path).libraries)
            print(
                f"memory: embedded federation of {units} units ready in {ready_s:.0f} s, "
                f"RSS {idle:.0f} MB",
                flush=True,
            )
            async with httpx.AsyncClient(timeout=60.0) as http:
                driver = await PairsDriver.signed_in(_Running(path), http)  # type: ignore[arg-type]
                loans = await driver.prepare(args.loans)
                t1 = time.monotonic()
                done = await driver.run(loans, args.concurrency, budget=300.0)
                seconds = time.monotonic() - t1
            completed = sum(1 for ln in done if ln.completed)
            return {
                "units": units,
                "ready_s": ready_s,
                "rss_ready_mb": idle,
                "loans": args.loans,
                "completed": completed,
                "lifecycles_per_s": completed / seconds if seconds else None,
                "rss_after_mb": rss_mb(proc.pid),
                "peak_rss_mb": peak_rss_mb(proc.pid),
            }
        finally:
            _stop(proc)


def rows(r: dict) -> list[tuple[str, float | None, float | None, str]]:
    n = r["units"]
    return [
        (f"embedded ({n} units): RSS MB when ready", None, r["rss_ready_mb"], ""),
        (f"embedded ({n} units): peak RSS MB, {r['loans']} loans", None, r["peak_rss_mb"], ""),
        (f"embedded ({n} units): ILL lifecycles/s", None, r["lifecycles_per_s"], ""),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--loans", type=int, default=32, help="whole loans driven (default 32)")
    p.add_argument("--concurrency", type=int, default=8, help="loans at a time (default 8)")
    p.add_argument("--poll", type=float, default=0.05, help="seconds between looks at a state")
    p.add_argument("--label", default="", help="a note stored with the results")
    return p


async def main() -> None:
    args = parser().parse_args()
    r = await run(args)
    hop_bench.print_table(rows(r))
    print(f"completed {r['completed']} of {r['loans']} loans")
    hop_bench.record({"memory": r}, bench="memory", label=args.label)
    print(f"results appended to {hop_bench.RESULTS.relative_to(hop_bench.ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
