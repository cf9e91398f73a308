"""The fault scenarios of tests/faults with a long stream of changes and many whole
inter-library loans, for a soak run:

    python -m tests.faults.soak --changes 5000 --loans 1000
        (make soak; SOAK_CHANGES=... and SOAK_LOANS=... to change them)

For the changes it starts its own tiny federation (a library and the catalogue as OS
processes on free ports, their own databases and virtual host), runs each scenario and prints
what was sent, applied, lost and applied twice. For the loans it starts an ILL federation
(catalogue, broker, notifier, two HKALL and two MALA libraries, each its own process) and runs
the loans, half HKALL and half MALA, while the broker's and the libraries' processes are
killed and started again and RabbitMQ drops the connections, round after round, then prints
how many completed, were lost or applied twice, how long it took and how many loans a second.
Exits non-zero if anything was lost or applied twice.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from pathlib import Path

from tests.faults.ill_helpers import start_ill_federation, stop_ill_federation
from tests.faults.ill_loans import loans_under_faults
from tests.faults.proc_helpers import (
    Outcome,
    consumer_database_dropped,
    consumer_killed,
    publisher_killed_after_confirm,
    start_federation,
    stop_federation,
)

SCENARIOS = {
    "consumer-killed": consumer_killed,
    "publisher-killed-after-confirm": publisher_killed_after_confirm,
    "consumer-database-dropped": consumer_database_dropped,
}
ILL_LOANS = "ill-loans"
#: loans per round of faults (broker, a library, dropped connections; every other round the
#: catalogue and the notifier too)
LOANS_PER_CYCLE = 250


async def soak(changes: int, items: int, settle_within: float, only: list[str]) -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="illfed-soak-") as folder:
        tf = await start_federation(Path(folder))
        try:
            for name in only:
                outcome: Outcome = await SCENARIOS[name](
                    tf, changes, items=items, settle_within=settle_within
                )
                t = outcome.tally
                good = t.settled and t.lost == 0 and t.unknown == 0 and t.parked == 0
                ok = ok and good
                print(
                    f"{name}: {'ok' if good else 'FAILED'} in {outcome.settled_in:.1f}s after "
                    f"the stream; {t.line()}; this run published "
                    f"{outcome.duplicates_published} twice",
                    flush=True,
                )
        finally:
            await stop_federation(tf)
    return ok


async def soak_loans(
    loans: int, concurrency: int, cycles: int | None, start_for: float | None
) -> bool:
    rounds = cycles if cycles is not None else max(1, -(-loans // LOANS_PER_CYCLE))
    # SIGTERM (a time limit) stops the run the way Ctrl-C does: the federation's processes,
    # databases and virtual host are cleaned up.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="illfed-soak-ill-") as folder:
        start = time.monotonic()
        tf = await start_ill_federation(Path(folder))
        print(f"{ILL_LOANS}: federation up in {time.monotonic() - start:.0f}s", flush=True)
        try:
            outcome = await loans_under_faults(
                tf,
                loans,
                concurrency=concurrency,
                cycles=rounds,
                progress=lambda line: print(f"{ILL_LOANS}: {line}", flush=True),
                start_for=start_for,
            )
        finally:
            await stop_ill_federation(tf)
    t = outcome.tally
    good = t.clean
    print(
        f"{ILL_LOANS}: {'ok' if good else 'FAILED'}: {t.loans} loans started of {loans}, "
        f"completed {t.completed}, "
        f"lost {t.lost}, applied twice {t.applied_twice}, in {outcome.seconds:.1f}s "
        f"({outcome.per_second:.2f} loans/s)",
        flush=True,
    )
    print(outcome.report(), flush=True)
    return good


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__)
    parser.add_argument("--changes", type=int, default=5000, help="status changes per scenario")
    parser.add_argument("--items", type=int, default=50, help="items the changes spread over")
    parser.add_argument(
        "--settle-within", type=float, default=60.0, help="seconds to wait for the catalogue"
    )
    parser.add_argument("--loans", type=int, default=0, help="whole ILL loans (0: none)")
    parser.add_argument("--concurrency", type=int, default=16, help="loans at a time")
    parser.add_argument(
        "--loan-cycles",
        type=int,
        default=None,
        help=f"rounds of faults during the loans (default: one per {LOANS_PER_CYCLE} loans)",
    )
    parser.add_argument(
        "--start-for",
        type=float,
        default=None,
        help="seconds after which no more loans are started (those under way finish)",
    )
    parser.add_argument("--scenario", action="append", choices=[*sorted(SCENARIOS), ILL_LOANS])
    args = parser.parse_args(argv)
    chosen = args.scenario or [*SCENARIOS, *([ILL_LOANS] if args.loans else [])]
    changes = [name for name in chosen if name in SCENARIOS]
    ok = True
    if changes and args.changes:
        ok = asyncio.run(soak(args.changes, args.items, args.settle_within, changes))
    if ILL_LOANS in chosen:
        ok = (
            asyncio.run(
                soak_loans(args.loans or 1000, args.concurrency, args.loan_cycles, args.start_for)
            )
            and ok
        )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
