"""Whole inter-library loans, in the distributed way, against the floor measured in the same run.

A federation of two HKALL and two MALA libraries with the union catalogue, the broker and the
notifier, each its own process on PostgreSQL and RabbitMQ (:mod:`bench.ill.federation`).
Staff register patrons and add a uniquely titled book per loan; then ``--loans`` loans,
``--concurrency`` at a time, each the whole way through the public REST APIs as staff and
patron take it (the fault tests' loan driver, with nothing killed): request → route →
WillSupply (the lender's policy) → ship → receive (AwaitingPickup) → check out → return →
ship back → the lender checks in → Completed on both sides and at the broker.

Printed: lifecycles/s, messages per lifecycle (the rows the units wrote to their outboxes
while the loans ran, each one hop: ILL messages and the item and notice events they cause),
request → AwaitingPickup p50/p95 (the POST, then until the requester's receive answered),
each unit's peak RSS, and the ratio of lifecycles/s to what the floor would carry: floor
hops/s ÷ hops per lifecycle. While it waits for the other side each look at the loan's state
waits at the service for the state looked for (``?until=…&wait=``, at most ``--wait``
seconds) and is answered as the step commits: one GET a wait, no poll delay. With ``--wait 0``
it polls, as a client that does not ask to wait would: the first look after half the median
time that wait took so far (``--first-look``), then every ``--poll`` seconds and up, which
bounds the latencies from below. Its calls go through a lean HTTP client, as the floor's
driver's do (``--driver-http httpx`` for the fault tests' client).

    python -m bench ill                            # 64 loans, 16 at a time
    python -m bench ill --loans 200 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench import cpu_profile
from bench.hop import hop_bench
from bench.hop.measure import CpuMeter, peak_rss_mb, percentile, rabbitmq_pid
from bench.ill import federation
from bench.ill.lean_http import LeanClient
from tests.faults import ill_driver
from tests.faults.ill_driver import Driver, Loan

MEMBERS = [("hku", "HKALL"), ("eduhk", "HKALL"), ("um", "MALA"), ("kwnc", "MALA")]


class TimedDriver(Driver):
    """The fault tests' driver, noting when each loan's steps went through.

    Each look at a state is a GET the federation serves on the cores it shares with the
    loans; polled from ``--poll`` seconds up, a wait of a second or two costs five or six of
    them. With ``first_look`` the driver takes its first look after that share of the median
    time the same wait (the same side, for the same states) took in the loans so far, then
    polls as before: fewer GETs that find nothing new, at the price of a little of the
    latency the figures include."""

    started: dict[int, float]
    awaiting_pickup: dict[int, float]
    first_look: float = 0.0
    waited: dict[tuple[str, frozenset[str]], list[float]]

    async def run_loan(self, loan: Loan, budget: float) -> None:
        self.started[loan.n] = time.monotonic()
        await super().run_loan(loan, budget)

    async def _wait(self, loan, api, path, wanted, until):
        seen = self.waited.setdefault((api.name, frozenset(wanted)), [])
        t0 = time.monotonic()
        if self.first_look and seen:
            recent = sorted(seen[-32:])
            await asyncio.sleep(min(recent[len(recent) // 2] * self.first_look, 5.0))
        state = await super()._wait(loan, api, path, wanted, until)
        seen.append(time.monotonic() - t0)
        return state

    async def _step(self, loan, name, api, state_path, after, post, until):
        answer = await super()._step(loan, name, api, state_path, after, post, until)
        if name == "receive":
            self.awaiting_pickup[loan.n] = time.monotonic()
        return answer


async def _floor_hops_per_s() -> float:
    print("ill: the floor (hop bench, floor part)", flush=True)
    floor_args = hop_bench.parser().parse_args(
        ["--parts", "floor", "--seconds", "8", "--warmup", "2", "--lone", "20", "--turns", "1"]
    )
    return (await hop_bench.run(floor_args))["floor"]["hops_per_s"]


async def run(args, floor_hops_per_s: float | None = None) -> dict:
    """Start the federation, run the loans, stop it; the figures are returned. The floor is
    measured just before the loans and again just after (``floor_hops_per_s`` given: that
    one is the first), and the ratio is to their mean: this machine's speed drifts by a
    quarter from one minute to the next, and the loans run between the two."""
    ill_driver.POLL_FIRST = args.poll
    ill_driver.POLL_MAX = max(args.poll, 0.5)
    ill_driver.WAIT = args.wait
    floors = [] if args.no_floor else [floor_hops_per_s or await _floor_hops_per_s()]
    with tempfile.TemporaryDirectory(prefix="illfed-bench-ill-") as tmp:
        t0 = time.monotonic()
        bf = await federation.start(
            Path(tmp),
            MEMBERS,
            [code for code, _ in MEMBERS],
            unit_env=cpu_profile.folder_env(args.cpu_profile),
        )
        print(
            f"ill: federation of {len(bf.units)} processes ready in {time.monotonic() - t0:.0f} s",
            flush=True,
        )
        try:
            result = await _measure(bf, args)
        except BaseException:
            for unit in bf.units.values():
                print(f"--- {unit.key} log:\n{unit.tail()}")
            raise
        finally:
            await federation.stop(bf)
    if floors:
        floors.append(await _floor_hops_per_s())
        floor = sum(floors) / len(floors)
        result["floor_hops_per_s"] = floor
        result["floor_hops_per_s_before_after"] = floors
        if result["messages_per_lifecycle"]:
            result["floor_lifecycles_per_s"] = floor / result["messages_per_lifecycle"]
            result["ratio_to_floor"] = result["lifecycles_per_s"] / result["floor_lifecycles_per_s"]
    return result


async def _backends(bf: federation.BenchFederation) -> list[int]:
    """The PostgreSQL backends serving the federation's databases now."""
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            [url.rsplit("/", 1)[-1] for url in bf.db.values()],
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def _cpu_profile_signal(bf: federation.BenchFederation, args, sig: signal.Signals) -> None:
    if args.cpu_profile:
        for pid in bf.pids().values():
            os.kill(pid, sig)


def _profile(bf: federation.BenchFederation, args) -> list[subprocess.Popen]:
    """py-spy on every unit while the loans run (raw collapsed stacks, a file each)."""
    if not args.profile:
        return []
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for key, pid in bf.pids().items():
        argv = [args.py_spy, "record", "--nonblocking", "--format", "raw", "-r", "100"]
        argv += ["-p", str(pid), "-o", str(folder / f"{key}.txt")]
        out.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return out


async def _measure(bf: federation.BenchFederation, args) -> dict:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    lean = LeanClient(timeout=60.0)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:
        driver = await TimedDriver.signed_in(bf, http)  # type: ignore[arg-type]
        if args.driver_http == "lean":
            # Tokens were fetched through httpx; the loans' calls go the lean way.
            for api in [*driver.libs.values(), driver.broker, driver.catalog]:
                api.http = lean  # type: ignore[union-attr,assignment]
        driver.started, driver.awaiting_pickup, driver.waited = {}, {}, {}
        # A look that waits at the service for the state is answered when it comes: a
        # first look put off would only add to the latencies.
        driver.first_look = 0.0 if args.wait else args.first_look
        t0 = time.monotonic()
        loans = await driver.prepare(args.loans + args.warmup)
        print(
            f"ill: {args.loans + args.warmup} patrons' books in the catalogue after "
            f"{time.monotonic() - t0:.0f} s",
            flush=True,
        )
        if args.warmup:
            # Unmeasured loans first, so the measured ones find every unit warm (its pool's
            # connections open, their statements prepared), as in a federation in service.
            warm, loans = loans[: args.warmup], loans[args.warmup :]
            t0 = time.monotonic()
            await driver.run(warm, args.concurrency, budget=args.budget)
            print(f"ill: {len(warm)} warm-up loans in {time.monotonic() - t0:.0f} s", flush=True)
        await asyncio.sleep(1.0)  # the last item.changed and notices sent before counting
        before = await bf.outbox_counts()
        rabbit = rabbitmq_pid()

        async def groups() -> dict[str, list[int]]:
            out = {k: [pid] for k, pid in bf.pids().items()}
            out["postgres"] = await _backends(bf)
            out["rabbitmq"] = [rabbit] if rabbit else []
            out["driver"] = [os.getpid()]
            return out

        async def sampling() -> None:
            while True:
                await asyncio.sleep(0.5)
                meter.sample(await groups())

        calls_before = driver.stats.calls
        meter = CpuMeter()
        profilers = _profile(bf, args)
        _cpu_profile_signal(bf, args, signal.SIGUSR2)  # the start and warm-up not counted
        meter.start(await groups())
        sampler = asyncio.create_task(sampling())
        t1 = time.monotonic()
        try:
            done = await driver.run(loans, args.concurrency, budget=args.budget)
        finally:
            sampler.cancel()
        seconds = time.monotonic() - t1
        cpu = meter.stop(await groups())
        _cpu_profile_signal(bf, args, signal.SIGUSR1)  # each unit writes its stacks
        for p in profilers:
            p.send_signal(2)  # py-spy writes its file on SIGINT
            p.wait(timeout=60)
        await asyncio.sleep(1.0)  # the last notices of the last loans
        after = await bf.outbox_counts()
        await lean.aclose()
    completed = [ln for ln in done if ln.completed]
    failed = [ln for ln in done if not ln.completed]
    for ln in failed[:5]:
        print(f"  loan {ln.n} ({ln.home} <- {ln.lender}) stuck at {ln.last_step}: {ln.error}")
    sent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    messages = sum(sent.values())
    per_loan = messages / len(completed) if completed else None
    to_pickup = [
        (driver.awaiting_pickup[ln.n] - driver.started[ln.n]) * 1000
        for ln in completed
        if ln.n in driver.awaiting_pickup
    ]
    rate = len(completed) / seconds if seconds else 0.0
    result = {
        "loans": args.loans,
        "warmup_loans": args.warmup,
        "concurrency": args.concurrency,
        "completed": len(completed),
        "seconds": seconds,
        "lifecycles_per_s": rate,
        "messages_per_lifecycle": per_loan,
        "messages_by_kind": {k: v for k, v in sorted(sent.items()) if v},
        "request_to_awaiting_pickup_p50_ms": percentile(to_pickup, 50),
        "request_to_awaiting_pickup_p95_ms": percentile(to_pickup, 95),
        "lifecycle_p50_s": percentile([ln.seconds for ln in completed], 50),
        "api_calls_per_lifecycle": (driver.stats.calls - calls_before) / max(len(completed), 1),
        "cpu_ms_per_lifecycle": {k: 1000 * v / max(len(completed), 1) for k, v in cpu.items()},
        # of the machine's cores, how many the federation, the servers and the driver kept busy
        "cpu_cores_busy": sum(cpu.values()) / seconds if seconds else None,
        "peak_rss_mb": {k: peak_rss_mb(pid) for k, pid in bf.pids().items()},
        "poll_s": args.poll,
        "driver_http": args.driver_http,
        "first_look": args.first_look,
        "wait_s": args.wait,
    }
    return result


def rows(r: dict) -> list[tuple[str, float | None, float | None, str]]:
    """(figure, floor, illfed, ratio) rows for the one table."""
    out: list[tuple[str, float | None, float | None, str]] = []
    n = r["concurrency"]
    ratio = r.get("ratio_to_floor")
    out.append(
        (
            f"ILL lifecycles/s, {n} at a time",
            r.get("floor_lifecycles_per_s"),
            r["lifecycles_per_s"],
            f"{ratio:.2f}" if ratio is not None else "",
        )
    )
    out.append(("ILL messages (hops) per lifecycle", None, r["messages_per_lifecycle"], ""))
    out.append(
        ("ILL request -> AwaitingPickup p50 ms", None, r["request_to_awaiting_pickup_p50_ms"], "")
    )
    out.append(
        ("ILL request -> AwaitingPickup p95 ms", None, r["request_to_awaiting_pickup_p95_ms"], "")
    )
    for key, mb in sorted(r["peak_rss_mb"].items()):
        out.append((f"peak RSS MB under ILL load: {key}", None, mb, ""))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench ill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--loans", type=int, default=64, help="loans in all (default 64)")
    p.add_argument("--concurrency", type=int, default=16, help="loans at a time (default 16)")
    p.add_argument(
        "--warmup",
        type=int,
        default=16,
        help="unmeasured loans first, so that every unit is warm (default 16)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=ill_driver.WAIT,
        help="seconds each look at a state may wait at the service for the state looked for "
        f"(?until=…&wait=; default {ill_driver.WAIT:g}; 0: the driver polls)",
    )
    p.add_argument("--poll", type=float, default=0.05, help="seconds between looks at a state")
    p.add_argument(
        "--first-look",
        type=float,
        default=0.5,
        help="when polling (--wait 0): first look at a state after this share of the median "
        "time the same wait took so far, then every --poll seconds and up (0: at once)",
    )
    p.add_argument("--budget", type=float, default=300.0, help="seconds a loan may take")
    p.add_argument("--no-floor", action="store_true", help="skip measuring the floor")
    p.add_argument(
        "--driver-http",
        choices=("lean", "httpx"),
        default="lean",
        help="the driver's HTTP client: lean (as the floor's driver; default) or httpx",
    )
    p.add_argument("--label", default="", help="a note stored with the results")
    p.add_argument(
        "--profile", default="", help="folder for py-spy profiles of every unit (raw stacks)"
    )
    p.add_argument("--py-spy", default="py-spy", help="the py-spy to profile with")
    p.add_argument(
        "--cpu-profile",
        default="",
        help="folder for each unit's stacks sampled on its own CPU clock (bench.cpu_profile); "
        "py-spy's wall-clock samples count a unit waiting for a core as busy",
    )
    return p


def print_result(r: dict) -> None:
    hop_bench.print_table(rows(r))
    print(
        f"completed {r['completed']} of {r['loans']} loans in {r['seconds']:.1f} s; "
        f"messages by kind: {r['messages_by_kind']}"
    )
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["cpu_ms_per_lifecycle"].items()))
    total = sum(r["cpu_ms_per_lifecycle"].values())
    print(
        f"CPU ms per lifecycle: {cpu} (all {total:.0f}, {r['cpu_cores_busy']:.2f} cores busy); "
        f"API calls per lifecycle {r['api_calls_per_lifecycle']:.1f}"
    )
    if r.get("floor_hops_per_s_before_after"):
        before, after = r["floor_hops_per_s_before_after"]
        print(f"floor hops/s just before the loans {before:.0f}, just after {after:.0f}")


async def main() -> None:
    args = parser().parse_args()
    r = await run(args)
    print_result(r)
    if args.cpu_profile:
        cpu_profile.print_folder(args.cpu_profile)
    hop_bench.record({"ill": r}, bench="ill", label=args.label)
    print(f"results appended to {hop_bench.RESULTS.relative_to(hop_bench.ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
