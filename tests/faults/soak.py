"""The fault scenarios of tests/faults with a long stream of changes, for a soak run:

    python -m tests.faults.soak --changes 5000      (make soak; SOAK_CHANGES=... to change it)

Starts its own tiny federation (a library and the catalogue as OS processes on free ports,
their own databases and virtual host), runs each scenario and prints what was sent, applied,
lost and applied twice. Exits non-zero if anything was lost or applied twice.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__)
    parser.add_argument("--changes", type=int, default=5000, help="status changes per scenario")
    parser.add_argument("--items", type=int, default=50, help="items the changes spread over")
    parser.add_argument(
        "--settle-within", type=float, default=60.0, help="seconds to wait for the catalogue"
    )
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    ok = asyncio.run(
        soak(args.changes, args.items, args.settle_within, args.scenario or list(SCENARIOS))
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
