"""Room on the RabbitMQ server for a benchmark's queues: its file-handle budget.

RabbitMQ 3.x gives every quorum queue file handles of its own (three each, measured on this
server's 3.10) out of a budget it sets at start from its process's open-files limit (927 of
1,024 here). A federation of 200 members declares about 600 queues, 1,800 handles; past the
budget the broker does not refuse, it makes the declaring channel wait, so a set-up that
does not fit stalls until its time-out. The scale benchmark asks first: it raises the budget
of the running node for the time it runs, up to what the node's process may open, puts the
old budget back after, and says so; a size that still does not fit is skipped with the
reason, at once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from libs.common.messaging.broker_admin import _ctl

HANDLES_PER_QUEUE = 3
#: kept free for the connections, channels and the node's own files
SPARE = 200


@dataclass
class Room:
    limit: int  # the budget while the benchmark runs
    used: int  # handles already taken when it started (other virtual hosts' queues)
    note: str  # what was done, for the output

    def fits(self, queues: int) -> bool:
        return self.used + queues * HANDLES_PER_QUEUE + SPARE <= self.limit


async def _info() -> tuple[int, int]:
    out = await _ctl("eval", "file_handle_cache:info([total_limit, total_used]).")
    found = dict(re.findall(r"\{(\w+),(\d+)\}", out))
    return int(found["total_limit"]), int(found["total_used"])


async def _os_limit() -> int | None:
    """The most files the node's process may open (its hard limit), if it says."""
    out = await _ctl("eval", "os:cmd(\"sh -c 'ulimit -Hn'\").")
    digits = re.search(r"(\d+)", out)
    return int(digits.group(1)) if digits else None


async def _set(limit: int) -> None:
    await _ctl("eval", f"file_handle_cache:set_limit({limit}).")


@asynccontextmanager
async def handles_for(queues: int) -> AsyncIterator[Room]:
    """The server's budget, raised for ``queues`` more quorum queues if it is short and the
    node may open that many files; put back on leaving."""
    try:
        limit, used = await _info()
    except RuntimeError as e:
        # Not a RabbitMQ 3.x node with rabbitmqctl at hand: nothing to ask, nothing to raise.
        yield Room(limit=1 << 30, used=0, note=f"file-handle budget unknown ({e})")
        return
    wanted = used + queues * HANDLES_PER_QUEUE + SPARE
    if wanted <= limit:
        yield Room(limit, used, f"file-handle budget {limit}, enough")
        return
    ceiling = await _os_limit()
    raised = min(wanted, ceiling - SPARE) if ceiling else limit
    if raised <= limit:
        yield Room(limit, used, f"file-handle budget {limit}, cannot be raised")
        return
    await _set(raised)
    try:
        yield Room(raised, used, f"file-handle budget raised from {limit} to {raised} for this run")
    finally:
        await _set(limit)
