"""The catalogue's database connections cut from the server side mid-stream (as a PostgreSQL
restart or failover does): the messages being applied are redelivered, not dead-lettered,
and the catalogue ends up mirroring every item change of the library exactly once."""

from __future__ import annotations

import pytest

from tests.faults.proc_helpers import consumer_database_dropped, shared_federation

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]
CHANGES = 200


@pytest.fixture(scope="module")
def federation(request, tmp_path_factory):
    return shared_federation(request.config, tmp_path_factory)


async def test_the_catalogue_losing_its_database_connections_mid_stream_loses_nothing(
    federation,
):
    outcome = await consumer_database_dropped(federation, CHANGES)
    t = outcome.tally
    assert outcome.connections_cut > 0
    assert t.settled, t.line()
    assert (t.lost, t.unknown, t.parked, t.mismatched) == (0, 0, 0, []), t.line()
    assert outcome.back_in <= 10.0  # the catalogue was back at work soon after the fault
