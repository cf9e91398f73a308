"""The order rule of ILL.md, as pure code: a receiver applies the messages one sender sent
about one transaction in ``seq`` order.

Given the last ``seq`` applied from that sender, an incoming ``seq`` is the next one (apply
it, then any parked successors), a later one (park it until the gap closes), or one already
applied (a duplicate, resent under a new message id perhaps: change nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Verdict = Literal["apply", "park", "duplicate"]


def verdict(last_applied: int, seq: int) -> Verdict:
    if seq <= last_applied:
        return "duplicate"
    if seq == last_applied + 1:
        return "apply"
    return "park"


def releasable(last_applied: int, parked: Iterable[int]) -> list[int]:
    """The parked ``seq``\\ s that become applicable, in order, once ``last_applied`` is."""
    waiting, out, nxt = set(parked), [], last_applied + 1
    while nxt in waiting:
        out.append(nxt)
        nxt += 1
    return out
