"""Whole inter-library loans while the federation is being broken: the scenario the fault
test and the soak (``make soak``) run.

While the loans go on, in turn: the broker's process (``requests``) is SIGKILLed and started
again, a library's process (its consumer, relay and API at once) is SIGKILLed and started
again, and RabbitMQ drops every connection of the federation's virtual host. With more than
one cycle, the next cycle kills the other consortium's library, then the catalogue and the
notifier, and so on. Afterwards every side's database and every queue is read
(:mod:`tests.faults.ill_checks`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.faults.conn_helpers import drop_connections
from tests.faults.ill_checks import IllTally, tally_loans
from tests.faults.ill_driver import Driver, Loan, LoanStuck, Stats
from tests.faults.ill_helpers import IllFederation

#: the steps of one loan the driver takes (request, ship, receive, checkout, return,
#: ship-back, check-in): the faults are spread over them
STEPS_PER_LOAN = 7
#: libraries killed in turn, one per cycle (a lender and home of each consortium)
LIBRARY_VICTIMS = ("eduhk", "kwnc", "hku", "um")


@dataclass
class IllOutcome:
    tally: IllTally
    stats: Stats
    loans: int
    seconds: float  # from the first request to the last loan completed
    prepare_seconds: float
    faults: list[str] = field(default_factory=list)
    #: (unit, event) -> times the units logged it as a warning or an error
    events: Counter = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.tally.completed / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.tally.line()}; {self.seconds:.1f}s for the loans "
            f"({self.per_second:.2f} loans/s), {self.prepare_seconds:.1f}s to prepare; "
            f"{self.stats.calls} calls, {self.stats.failed_calls} failed and retried; "
            f"faults: {'; '.join(self.faults)}"
        )

    def report(self) -> str:
        events = "\n  ".join(f"{k[0]}: {k[1]} x{n}" for k, n in sorted(self.events.items()))
        return f"{self.line()}\n{self.tally.details()}\nlogged:\n  {events}"


def _faults(tf: IllFederation, cycles: int) -> list[tuple[str, Callable]]:
    """The faults in the order they happen: (what, how)."""
    out: list[tuple[str, Callable]] = []
    for c in range(cycles):
        victim = LIBRARY_VICTIMS[c % len(LIBRARY_VICTIMS)]
        out.append(("broker (requests) SIGKILLed", lambda: tf.restart(tf.broker, down_for=1.0)))
        out.append(
            (
                f"circulation-{victim} SIGKILLed",
                lambda v=victim: tf.restart(tf.library(v), down_for=1.0),
            )
        )
        out.append(
            ("RabbitMQ dropped the vhost's connections", lambda: drop_connections(tf.admin_url))
        )
        if c % 2 == 1:
            out.append(("catalogue SIGKILLed", lambda: tf.restart(tf.catalog, down_for=1.0)))
            out.append(
                ("notifier SIGKILLed", lambda: tf.restart(tf.units["notifier"], down_for=1.0))
            )
    return out


async def _break(
    tf: IllFederation,
    driver: Driver,
    total: int,
    cycles: int,
    log: list[str],
    progress: Callable[[str], None] | None,
) -> None:
    """Each fault when its share of the loans' steps is done, so that loans are in every
    stage of their lives when it strikes."""
    faults = _faults(tf, cycles)
    start = time.monotonic()
    for k, (what, do) in enumerate(faults, start=1):
        # From 10 % to 80 % of the steps: the run starts and ends with loans under way.
        at = int(total * (0.1 + 0.7 * (k - 1) / max(len(faults) - 1, 1)))
        while True:
            if driver.stats.steps >= at:
                break
            await asyncio.sleep(0.1)
        t = time.monotonic()
        how = await do()
        log.append(
            f"{what} at {t - start:.0f}s (step {driver.stats.steps}/{total}, back in "
            f"{time.monotonic() - t:.1f}s{': ' + how if how else ''})"
        )
        if progress is not None:
            progress(log[-1])


async def settle(tf: IllFederation, loans: list[Loan], timeout: float = 60.0) -> IllTally:
    """The tally once the queues and outboxes are empty (the last notices drained), or the
    last one after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        t = await tally_loans(tf, loans)
        quiet = not any(t.waiting.values()) and not any(t.unsent.values())
        if quiet or time.monotonic() > end:
            return t
        await asyncio.sleep(0.5)


async def loans_under_faults(
    tf: IllFederation,
    loans: int,
    *,
    concurrency: int = 16,
    cycles: int = 1,
    loan_budget: float = 300.0,
    progress: Callable[[str], None] | None = None,
    start_for: float | None = None,
) -> IllOutcome:
    """``loans`` whole loans, half HKALL and half MALA, ``concurrency`` at a time, while
    ``cycles`` rounds of faults strike. With ``start_for``, no loan is started after that
    many seconds (the outcome counts the loans started)."""
    async with httpx.AsyncClient() as http:
        driver = await Driver.signed_in(tf, http)
        t0 = time.monotonic()
        try:
            ready = await driver.prepare(loans)
        except LoanStuck as exc:
            events = "; ".join(f"{k[0]}: {k[1]} x{n}" for k, n in tf.log_events().items())
            raise LoanStuck(f"{exc}; the units logged: {events}") from exc
        prepared = time.monotonic() - t0
        if progress is not None:
            progress(f"{loans} loans prepared in {prepared:.0f}s (patrons, books, catalogue)")
        log: list[str] = []
        t1 = time.monotonic()
        breaking = asyncio.create_task(
            _break(tf, driver, STEPS_PER_LOAN * loans, cycles, log, progress)
        )
        try:
            until = None if start_for is None else time.monotonic() + start_for
            ready = await driver.run(ready, concurrency, loan_budget, progress, until)
        finally:
            took = time.monotonic() - t1
            if not breaking.done():
                # Loans that got stuck end the run before the last faults: say so.
                breaking.cancel()
                log.append("(the run ended before every fault struck)")
            elif breaking.exception() is not None:
                log.append(f"(a fault could not be carried out: {breaking.exception()!r})")
            # A fault cut short must still leave its process running for the checks.
            for unit in tf.units.values():
                if not unit.alive():
                    unit.start()
                    await unit.wait_ready()
        with_errors = [ln for ln in ready if not ln.completed]
        tally = await settle(tf, ready)
        for ln in with_errors:
            # Where it stands on each side, for the report.
            sides = await driver.sides(ln)
            tally.stuck = [
                s + (f" sides {sides}" if s.startswith(f"loan {ln.n} ") else "")
                for s in tally.stuck
            ]
        return IllOutcome(tally, driver.stats, len(ready), took, prepared, log, tf.log_events())
