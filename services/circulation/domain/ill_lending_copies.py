"""Which of its own copies a lender supplies, or why it cannot (ILL.md: "the lender re-checks
its own item: its status is the truth, not the mirror").

The copies are read from the lender's own database; the catalogue's list of them is only a
guess at which ones to look at. A copy is supplied only when its status is AVAILABLE here
(HKALL-02) and its material type is one the lender's consortium lends (HKALL-01, MALA-03).
Accompanying material travels with its main item and is never supplied on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from libs.common.contracts.ill import IllRefusal
from libs.common.policy import Policy, material_refusals
from services.circulation.domain.items import Item

ACTION = "lending through inter-library loan"


@dataclass(frozen=True)
class CopyChoice:
    """A copy to hold for the requester, or the refusal to answer with (never both)."""

    item: Item | None = None
    refusal: IllRefusal | None = None


def _not_lent(policy: Policy, item: Item) -> IllRefusal | None:
    """MALA-03 / HKALL-01: material the consortium does not lend."""
    found = material_refusals(policy, [item.facts()], ACTION)
    if found:
        return IllRefusal(rule=found[0].rule, reason=found[0].reason)
    if item.is_accompanying:
        return IllRefusal(reason="accompanying material is lent only with its main item")
    return None


def _unavailable(policy: Policy, item: Item | None) -> IllRefusal:
    """HKALL-02: only a copy AVAILABLE at the lending library can be lent."""
    what = (
        f"the copy {item.barcode or item.item_id} is {item.status}, not AVAILABLE"
        if item is not None
        else "this library has no copy of the record"
    )
    return IllRefusal(rule=policy.ill.unavailable_rule, reason=f"{what} at the lending library")


def choose_copy(policy: Policy, candidates: Sequence[Item]) -> CopyChoice:
    """The first candidate that can be lent now; otherwise the refusal that explains best:
    a lendable copy that is not on the shelf (HKALL-02) before material never lent (MALA-03)."""
    lendable = [item for item in candidates if _not_lent(policy, item) is None]
    for item in lendable:
        if item.status == "AVAILABLE":
            return CopyChoice(item=item)
    if lendable:
        return CopyChoice(refusal=_unavailable(policy, lendable[0]))
    if candidates:
        refusal = _not_lent(policy, candidates[0])
        assert refusal is not None
        return CopyChoice(refusal=refusal)
    return CopyChoice(refusal=_unavailable(policy, None))


def check_copy(policy: Policy, item: Item) -> IllRefusal | None:
    """Why the copy staff chose cannot be lent, if it cannot."""
    return _not_lent(policy, item) or (
        None if item.status == "AVAILABLE" else _unavailable(policy, item)
    )
