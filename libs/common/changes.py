"""Waiting for a record to change, in the process that commits the change.

A request (``GET …?until=Shipped&wait=20``) that waits for an ILL request to reach a state
watches the request's key here before it reads it, so that a change committed between its
read and its wait is not missed; the unit of work that changed it names the key and the
state it moved to (:func:`libs.common.db.changed`) and, once it has committed, the watchers
waiting for that state are woken and read again (the others go on waiting). A change
committed by another process (a second replica) wakes no one here: the watcher reads again
every ``RECHECK`` seconds whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Annotated, TypeVar

from fastapi import Query

T = TypeVar("T")

#: seconds after which a watcher reads again although no change was heard of
RECHECK = 2.0
#: the longest wait a request may ask for, in seconds
MAX_WAIT = 20.0


class Changes:
    """Who waits for which key to reach which states, in one process."""

    def __init__(self, recheck: float = RECHECK, max_wait: float = MAX_WAIT) -> None:
        self._watchers: dict[str, dict[asyncio.Event, frozenset[str]]] = {}
        self._closed = False
        self.recheck = recheck
        #: the longest this process lets a request wait (it may answer before the ``wait``
        #: asked for is over, with the state then)
        self.max_wait = max_wait

    def changed(self, moves: Mapping[str, Iterable[str]]) -> None:
        """These keys' records moved to these states (their transaction committed): wake
        the watchers waiting for one of them (a change that reaches none wakes nobody)."""
        for key, states in moves.items():
            watchers = self._watchers.get(key)
            if not watchers:
                continue
            reached = set(states)
            for event, wanted in watchers.items():
                if reached and (not wanted or not reached.isdisjoint(wanted)):
                    event.set()

    @contextlib.contextmanager
    def watch(self, key: str, wanted: frozenset[str] = frozenset()) -> Iterator[asyncio.Event]:
        """An event set when ``key`` reaches one of ``wanted`` (any state when empty) from
        now on, or the process is stopping."""
        event = asyncio.Event()
        if self._closed:
            event.set()
        watchers = self._watchers.setdefault(key, {})
        watchers[event] = wanted
        try:
            yield event
        finally:
            watchers.pop(event, None)
            if not watchers:
                self._watchers.pop(key, None)

    def close(self) -> None:
        """The process is stopping: every watcher answers with what it has at once, so that
        no open request holds the server's shutdown up."""
        self._closed = True
        for watchers in self._watchers.values():
            for event in watchers:
                event.set()

    def reopen(self) -> None:
        """The process serves again (a runtime started after it was stopped)."""
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed


async def until(
    changes: Changes,
    key: str,
    read: Callable[[], Awaitable[T]],
    state_of: Callable[[T], str],
    wanted: frozenset[str],
    wait: float,
    missing: tuple[type[Exception], ...] = (),
) -> T:
    """``read()`` until ``state_of(answer)`` is in ``wanted`` or ``wait`` seconds are over;
    the last answer. A read that raises one of ``missing`` (the record does not exist yet)
    is waited on as well, and raised when the time is over. Without ``wanted`` or ``wait``
    it is one read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, changes.max_wait)
    while True:
        with changes.watch(key, wanted) as event:
            try:
                answer = await read()
            except missing:
                if not wanted or deadline - loop.time() <= 0 or changes.closed:
                    raise
            else:
                left = deadline - loop.time()
                if not wanted or state_of(answer) in wanted or left <= 0 or changes.closed:
                    return answer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(deadline - loop.time(), changes.recheck)):
                    await event.wait()


#: ``?wait=``: how long a GET of an ILL transaction may wait for one of the ``until`` states
WaitSeconds = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT,
        description="Seconds (at most 20) to wait for the state to be one of `until` before "
        "answering with the state then (the service may answer sooner): a desk or a partner "
        "system waiting for a step without polling. Without `until` the answer comes at once.",
    ),
]


def ill_transaction(transaction_id: str) -> str:
    """The key of an ILL transaction's record (a library's request or lending, the broker's
    transaction): its history lines name it, so every step and refusal wakes its watchers."""
    return f"ill:{transaction_id}"
