"""Waiting for a record's state (``?until=…&wait=…``): answered when a move to a state it
waits for is heard of (and only then read again), not missed when it commits between the
read and the wait, answered at once when the process stops, and with the last state once the
wait is over."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.changes import Changes, until


class Record:
    def __init__(self, state: str) -> None:
        self.state = state
        self.reads = 0

    async def read(self) -> dict:
        self.reads += 1
        return {"state": self.state}


def _state(view: dict) -> str:
    return view["state"]


async def test_a_waiter_is_answered_when_the_record_reaches_a_state_it_waits_for():
    changes, record = Changes(recheck=60), Record("WillSupply")
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(
        until(changes, "ill:T1", record.read, _state, frozenset({"Shipped"}), 15)
    )
    await asyncio.sleep(0.05)
    record.state = "Loaned"  # a move to a state not waited for: no read, it waits on
    changes.changed({"ill:T1": {"Loaned"}, "ill:T2": {"Shipped"}})
    changes.changed({"ill:T1": set()})  # a step that left the state as it was
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert record.reads == 1
    record.state = "Shipped"
    changes.changed({"ill:T2": {"Shipped"}, "ill:T1": {"Loaned", "Shipped"}})
    assert await asyncio.wait_for(waiting, 5) == {"state": "Shipped"}
    assert record.reads == 2
    assert loop.time() - started < 5


async def test_a_change_between_the_read_and_the_wait_is_not_missed():
    changes = Changes(recheck=60)
    record = Record("WillSupply")
    first = True

    async def read() -> dict:
        nonlocal first
        view = await record.read()
        if first:  # the change commits right after this read, before the wait begins
            first = False
            record.state = "Shipped"
            changes.changed({"ill:T1": {"Shipped"}})
        return view

    answer = await asyncio.wait_for(
        until(changes, "ill:T1", read, _state, frozenset({"Shipped"}), 15), 5
    )
    assert answer == {"state": "Shipped"}


async def test_the_wait_ends_with_the_state_then_and_a_stopping_process_answers_at_once():
    changes, record = Changes(recheck=60), Record("WillSupply")
    answer = await until(changes, "ill:T1", record.read, _state, frozenset({"Shipped"}), 0.2)
    assert answer == {"state": "WillSupply"}
    waiting = asyncio.create_task(
        until(changes, "ill:T1", record.read, _state, frozenset({"Shipped"}), 15)
    )
    await asyncio.sleep(0.05)
    changes.close()
    assert await asyncio.wait_for(waiting, 5) == {"state": "WillSupply"}
    changes.reopen()
    assert not changes.closed


async def test_a_record_not_there_yet_is_waited_for_then_raised_when_the_time_is_over():
    changes = Changes(recheck=60)
    state: list[str] = []

    async def read() -> dict:
        if not state:
            raise LookupError("not yet")
        return {"state": state[0]}

    waiting = asyncio.create_task(
        until(changes, "ill:T1", read, _state, frozenset({"WillSupply"}), 15, (LookupError,))
    )
    await asyncio.sleep(0.05)
    state.append("WillSupply")
    changes.changed({"ill:T1": {"RequestReceived", "WillSupply"}})
    assert await asyncio.wait_for(waiting, 5) == {"state": "WillSupply"}
    state.clear()
    with pytest.raises(LookupError):
        await until(changes, "ill:T1", read, _state, frozenset({"WillSupply"}), 0.1, (LookupError,))
    with pytest.raises(LookupError):  # no states waited for: one read
        await until(changes, "ill:T1", read, _state, frozenset(), 15, (LookupError,))


async def test_without_states_to_wait_for_it_is_one_read():
    changes, record = Changes(recheck=60), Record("WillSupply")
    assert await until(changes, "ill:T1", record.read, _state, frozenset(), 15) == {
        "state": "WillSupply"
    }
    assert record.reads == 1
