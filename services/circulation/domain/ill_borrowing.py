"""May this patron ask for this title through the consortium? The home library's decision on
an ILL request, pure: the catalogue's record (holdings as their owners last reported them),
the home library's own copies of the title (its items table: the authority), the patron's
account and the requests already in flight.

Rules (rules.md), each refusal naming its ID:

* HKALL-01 / MALA-03: the material type is one the consortium lends (the policy's
  ``loanable``, through the policy engine);
* HKALL-02: some other member library of the consortium has a copy AVAILABLE by the
  catalogue (for MALA the same check cites MALA-07: requests go only to MALA members);
* HKALL-03: not while the home library has a copy in place in its circulation collection;
* HKALL-08 / MALA-01: an eligible patron category; HKALL-08 quota and HKALL-09 home quota
  with requests in flight counted; MALA-02 per lender; MALA-10 and every suspension (the
  account's standing) — all through :func:`libs.common.policy.checkout_decision`.

MALA-02 is a per-lender quota, but the lender is not known when the request is made: the
broker picks it from the candidates. The choice here: a request still without a lender counts
against *every* library that could supply it (its candidates when it was made), and a new
request is accepted when at least one of its own candidates still has room. The lender is
the last word (it re-checks when asked).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from libs.common.policy import (
    AccountFacts,
    Decision,
    ItemFacts,
    Policy,
    Refusal,
    checkout_decision,
)
from libs.common.policy.vocabulary import MaterialType
from services.circulation.domain.account import account_facts
from services.circulation.domain.ledger import Ledger
from services.circulation.domain.loan import Loan
from services.circulation.domain.patrons import Patron

ACTION = "inter-library loan request"
#: HKALL-03 and HKALL-02 are HKALL's; MALA names no home-copy rule and sends every request
#: through its own system to its members only (MALA-07)
HOME_COPY_RULE = {"HKALL": "HKALL-03"}
AVAILABILITY_RULE = {"HKALL": "HKALL-02", "MALA": "MALA-07"}
#: "in place in its circulation collection": a copy that could be borrowed here now
CIRCULATING: tuple[MaterialType, ...] = ("book", "book_with_disc")
KNOWN_TYPES: tuple[MaterialType, ...] = (
    "book",
    "book_with_disc",
    "serial",
    "periodical_back_issue",
    "media",
    "thesis",
    "reference",
)


VISITING_PREFIX = "ill:"


def visiting_item_id(transaction_id: str) -> str:
    """The local id of the item a lender sent for a transaction: one visiting item per
    transaction, recognisable so that it is never announced as this library's holding."""
    return f"{VISITING_PREFIX}{transaction_id}"[:64]


def is_visiting(item_id: str) -> bool:
    return item_id.startswith(VISITING_PREFIX)


def isbn_keys(isbns: Iterable[str]) -> set[str]:
    """The forms an item of this library may carry one of the record's ISBNs under, without
    hyphens or spaces: as given, and ISBN-10 for a 978 ISBN-13 (and the other way)."""
    keys: set[str] = set()
    for raw in isbns:
        key = "".join(ch for ch in raw if ch.isalnum()).upper()
        if not key:
            continue
        keys.add(key)
        if len(key) == 13 and key.startswith("978"):
            body = key[3:12]
            total = sum((10 - i) * int(d) for i, d in enumerate(body))
            check = (11 - total % 11) % 11
            keys.add(body + ("X" if check == 10 else str(check)))
        elif len(key) == 10 and key[:9].isdigit():
            body = "978" + key[:9]
            total = sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(body))
            keys.add(body + str((10 - total % 10) % 10))
    return keys


def new_pseudonym() -> str:
    """The patron as the lender knows them: random, kept only by the home library (never the
    patron id, name, HKID number, e-mail, phone or address)."""
    return f"p-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class CatalogueRecord:
    """The part of the catalogue's record JSON a request needs."""

    record_id: int
    title: str
    authors: tuple[str, ...]
    isbns: tuple[str, ...]
    material_type: MaterialType
    holdings: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> CatalogueRecord:
        kind = doc.get("material_type") or "book"
        return cls(
            record_id=int(doc["id"]),
            title=str(doc.get("title") or "")[:500] or f"record {doc['id']}",
            authors=tuple(doc.get("authors") or ()),
            isbns=tuple(doc.get("isbns") or ()),
            material_type=kind if kind in KNOWN_TYPES else "book",
            holdings=tuple(doc.get("holdings") or ()),
        )

    def home_item_ids(self, home: str) -> list[str]:
        return [h["item_id"] for h in self.holdings if h.get("library") == home]


@dataclass(frozen=True)
class HomeCopy:
    """One of the home library's own items of the title, as its items table has it."""

    item_id: str
    status: str
    material_type: str
    service_point: str


@dataclass(frozen=True)
class OpenRequest:
    """A request of the patron still in flight, for the duplicate check and the quota."""

    transaction_id: str
    record_id: int
    lender: str | None
    candidates: tuple[str, ...]
    holds_quota: bool


def candidate_lenders(
    record: CatalogueRecord, *, home: str, consortium: str, policy: Policy
) -> list[str]:
    """The other members of the patron's consortium (MALA-07; HKALL to HKALL) holding a copy
    AVAILABLE by the catalogue, of a type the consortium lends (HKALL-02)."""
    lendable = policy.loanable.material_types if policy.loanable else None
    return sorted(
        {
            h["library"]
            for h in record.holdings
            if h.get("consortium") == consortium
            and h.get("library") != home
            and h.get("status") == "AVAILABLE"
            and (lendable is None or (h.get("material_type") or "book") in lendable)
        }
    )


def _availability_refusal(consortium: str) -> list[Refusal]:
    rule = AVAILABILITY_RULE.get(consortium)
    if rule is None:
        return []
    return [
        Refusal(
            rule=rule,
            code="no_available_copy",
            action=ACTION,
            reason=f"no other {consortium} library has a copy AVAILABLE right now",
        )
    ]


def home_copy_refusals(consortium: str, copies: Iterable[HomeCopy]) -> list[Refusal]:
    """HKALL-03: the home library's own copy on its shelf, by its own items table."""
    rule = HOME_COPY_RULE.get(consortium)
    if rule is None:
        return []
    in_place = [c for c in copies if c.status == "AVAILABLE" and c.material_type in CIRCULATING]
    if not in_place:
        return []
    return [
        Refusal(
            rule=rule,
            code="copy_at_home",
            action=ACTION,
            reason=f"your own library has a copy on the shelf ({in_place[0].service_point}): "
            "borrow it there",
            item_id=in_place[0].item_id,
        )
    ]


def _facts_for(account: AccountFacts, requests: Sequence[OpenRequest], lender: str | None):
    """The account with each request in flight named by the lender it counts against: its
    own lender once known; before that, ``lender`` if that library is one of its candidates
    (MALA-02, see the module's docstring)."""
    named = []
    for r in requests:
        if not r.holds_quota:
            continue
        if r.lender is not None:
            named.append(r.lender)
        elif lender is not None and lender in r.candidates:
            named.append(lender)
        else:
            named.append(r.candidates[0] if r.candidates else "")
    return account.model_copy(update={"requests_holding_quota": tuple(named)})


@dataclass(frozen=True)
class RequestDecision:
    decision: Decision
    lenders: tuple[str, ...]


def decide_request(
    policy: Policy,
    *,
    consortium: str,
    home: str,
    patron: Patron,
    loans: Sequence[Loan],
    ledger: Ledger | None,
    requests: Sequence[OpenRequest],
    record: CatalogueRecord,
    home_copies: Sequence[HomeCopy],
    on: date,
) -> RequestDecision:
    """Every rule that refuses this request, or allowed with the libraries that could supply
    (the broker routes among them)."""
    lenders = candidate_lenders(record, home=home, consortium=consortium, policy=policy)
    base = account_facts(patron=patron, loans=loans, ledger=ledger)
    wanted = ItemFacts(
        item_id=f"record:{record.record_id}", material_type=record.material_type, ill=True
    )
    own = [*home_copy_refusals(consortium, home_copies)]
    if not lenders:
        own += _availability_refusal(consortium)
    per_lender = policy.quotas.scope == "lender"
    # One decision per candidate when the quota is per lender (MALA-02): accepted if any
    # candidate has room; otherwise the one decision for all.
    tried = lenders if per_lender and lenders else [None]
    decisions = [
        checkout_decision(
            policy,
            _facts_for(base, requests, lender),
            [wanted.model_copy(update={"lender": lender})],
            on,
            lender=lender,
            action=ACTION,
        )
        for lender in tried
    ]
    best = next((d for d in decisions if d.allowed), decisions[0])
    room = [lender for lender, d in zip(tried, decisions, strict=True) if d.allowed and lender]
    decision = Decision.of(ACTION, [*own, *best.refusals])
    shown = tuple(room) if per_lender and room else tuple(lenders)
    return RequestDecision(decision=decision, lenders=shown)


def duplicate_of(requests: Sequence[OpenRequest], record_id: int) -> OpenRequest | None:
    """The patron's open request for the same record, if any (ILL.md: refused as a
    duplicate)."""
    return next((r for r in requests if r.record_id == record_id), None)


def visiting_recall_refusal(policy: Policy) -> Refusal:
    """HKALL-10: this library's patrons cannot recall (or reserve, which would recall) an item
    another library lent here through the consortium: only its lender recalls it."""
    recalls = policy.recalls
    rule = (recalls.owner_only_rule or recalls.rule) if recalls else policy.renewals.rule
    return Refusal(
        rule=rule,
        code="not_owner",
        action="recall",
        reason="only the library that owns this item can recall it; it is lent here through "
        "the consortium",
    )
