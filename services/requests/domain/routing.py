"""Which lender the broker asks next (ILL.md, routing and timeouts), as pure code.

Candidates are the libraries holding an AVAILABLE copy by the catalogue's mirror at routing
time. Only members of the requester's consortium lend to it (MALA-07: a MALA request goes to
MALA members only; HKALL to HKALL), never the requester itself, never a lender that already
declined or did not answer on this transaction. Among the rest, the one with the fewest open
lending transactions is asked, so the load spreads; a tie is broken by a start that rotates
with the transaction, so the same library is not always first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

AVAILABLE = "AVAILABLE"


@dataclass(frozen=True)
class Candidate:
    """A library that may lend: its consortium (by the federation) and its copies of the
    record, the AVAILABLE ones first."""

    library: str
    consortium: str
    item_ids: tuple[str, ...]


def candidates_from_holdings(
    holdings: Iterable[Mapping[str, object]], consortium_of: Mapping[str, str]
) -> list[Candidate]:
    """The libraries with at least one AVAILABLE copy in the catalogue's holdings (each
    ``{library, item_id, status}``), with all their copies, AVAILABLE ones first. A library
    outside the federation (``consortium_of``) is nobody to ask."""
    available: dict[str, list[str]] = {}
    others: dict[str, list[str]] = {}
    for h in holdings:
        library, item = str(h.get("library") or ""), str(h.get("item_id") or "")
        if library not in consortium_of or not item:
            continue
        (available if h.get("status") == AVAILABLE else others).setdefault(library, []).append(item)
    return [
        Candidate(lib, consortium_of[lib], tuple(items + others.get(lib, [])))
        for lib, items in sorted(available.items())
    ]


def eligible(
    candidates: Iterable[Candidate], *, requester: str, consortium: str, skipped: Collection[str]
) -> list[Candidate]:
    """MALA-07: members of the requester's consortium only (HKALL to HKALL, MALA to MALA);
    never the requester, never a lender skipped on this transaction."""
    return sorted(
        (
            c
            for c in candidates
            if c.consortium == consortium and c.library != requester and c.library not in skipped
        ),
        key=lambda c: c.library,
    )


def choose_lender(
    candidates: Sequence[Candidate],
    open_lending_counts: Mapping[str, int],
    skipped: Collection[str],
    rotation_seed: int,
    *,
    requester: str,
    consortium: str,
) -> Candidate | None:
    """The lender to ask, or None when nobody is left (the end of the rota)."""
    pool = eligible(candidates, requester=requester, consortium=consortium, skipped=skipped)
    if not pool:
        return None
    fewest = min(open_lending_counts.get(c.library, 0) for c in pool)
    tied = [c for c in pool if open_lending_counts.get(c.library, 0) == fewest]
    return tied[rotation_seed % len(tied)]


def rotation_seed(transaction_id: str, attempt: int) -> int:
    """A start that differs from one transaction to the next (and moves on with each attempt
    on one transaction), the same every time it is computed for them."""
    digest = hashlib.sha256(transaction_id.encode()).hexdigest()
    return int(digest[:12], 16) + attempt


def pseudonym(patron_ref: str, lender: str) -> str:
    """The patron reference a lender sees: derived from the home library's own pseudonym and
    the lender's code, so two lenders never see the same reference for one patron and none
    can tie theirs to another's (ILL.md, privacy)."""
    return hashlib.sha256(f"{patron_ref}:{lender}".encode()).hexdigest()[:32]
