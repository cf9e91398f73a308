"""Whole inter-library loans on a distributed federation (a process per service and per
library, PostgreSQL, RabbitMQ) while the broker's process and a library's process are
SIGKILLed and started again and RabbitMQ drops every connection: every loan completes on all
three sides, none is lost, no step is applied twice, nothing is left parked or dead-lettered,
the lenders' books are back on the shelf and the homes' quotas given back."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.ill_helpers import start_ill_federation, stop_ill_federation
from tests.faults.ill_loans import loans_under_faults

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]
LOANS = 100


@pytest.fixture(scope="module")
def ill_federation(tmp_path_factory):
    tf = asyncio.run(start_ill_federation(tmp_path_factory.mktemp("ill-fault-federation")))
    try:
        yield tf
    finally:
        asyncio.run(stop_ill_federation(tf))


async def test_loans_survive_killed_processes_and_dropped_connections(ill_federation):
    outcome = await loans_under_faults(ill_federation, LOANS, concurrency=16, cycles=1)
    t = outcome.tally
    print(outcome.report())
    # Every fault struck while loans were under way.
    assert len(outcome.faults) == 3 and all("SIG" in f or "dropped" in f for f in outcome.faults)
    # Half HKALL, half MALA, each on every side at its end.
    assert t.final_states == {
        ("requester", "Completed"): LOANS,
        ("supplier", "LoanCompleted"): LOANS,
        ("broker", "LoanCompleted"): LOANS,
    }, outcome.report()
    assert (t.completed, t.lost, t.applied_twice) == (LOANS, 0, 0), outcome.report()
    assert t.duplicates == [], outcome.report()
    assert not any(t.parked.values()), outcome.report()  # no early message left waiting for a gap
    assert not any(t.unsent.values()), outcome.report()
    assert t.dead_letters == 0 and not any(t.dlq.values()), outcome.report()
    assert not t.items_not_available, outcome.report()  # back on the lenders' shelves
    assert (t.quota_held, t.loans_open) == (0, 0), outcome.report()  # the homes' quotas given back
