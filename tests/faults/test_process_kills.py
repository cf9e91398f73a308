"""Killing processes of a distributed federation mid-stream (SIGKILL, real OS processes on
the real RabbitMQ and PostgreSQL): the catalogue ends up mirroring every item change of the
library, none lost, none applied twice, soon after the killed process is back."""

from __future__ import annotations

import pytest

from tests.faults.proc_helpers import (
    consumer_killed,
    publisher_killed_after_confirm,
    shared_federation,
)

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]
CHANGES = 200


@pytest.fixture(scope="module")
def federation(request, tmp_path_factory):
    return shared_federation(request.config, tmp_path_factory)


async def test_the_catalogue_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    federation,
):
    outcome = await consumer_killed(federation, CHANGES)
    t = outcome.tally
    assert t.settled, t.line()
    assert (t.lost, t.unknown, t.parked, t.mismatched) == (0, 0, 0, []), t.line()
    assert outcome.back_in <= 10.0  # the catalogue was back at work soon after the fault


async def test_the_library_dying_between_confirm_and_marking_sent_publishes_again_harmlessly(
    federation,
):
    outcome = await publisher_killed_after_confirm(federation, CHANGES)
    t = outcome.tally
    # The batch confirmed just before the crash went out a second time after the restart...
    assert outcome.duplicates_published > 0, t.line()
    # ...and the catalogue's inbox absorbed it: every change mirrored once, in step.
    assert t.settled, t.line()
    assert (t.lost, t.unknown, t.parked, t.mismatched) == (0, 0, 0, []), t.line()
    assert outcome.back_in <= 10.0  # the catalogue was back at work soon after the fault
