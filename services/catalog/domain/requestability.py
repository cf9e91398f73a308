"""May this patron request this title through inter-library loan? (HKALL-01/02/03, MALA-03)

A pure function of the title's holdings (as their owners last reported them), the patron's home
library and consortium. Each refusal names its rule and says why in plain words; all refusals
that apply are given, so the patron sees the whole picture (for example, both "your library has
it on the shelf" and "no other library has it available").

Lenders are the other libraries of the patron's own consortium: HKALL lends among the eight
Hong Kong academic libraries, MALA among the Macau ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.catalog.domain.model import AVAILABLE, WITHDRAWN

HKALL = "HKALL"
MALA = "MALA"

# HKALL-01: only books can be requested (not serials, media or other non-book materials).
# A book that comes with a disc is a book.
HKALL_REQUESTABLE_TYPES = frozenset({"book", "book_with_disc"})
# MALA-03: reference books, periodicals, multimedia materials and theses are not lent;
# MALA-02 names what is: general books and discs that come with books.
MALA_EXCLUDED_TYPES = frozenset({"reference", "serial", "periodical_back_issue", "media", "thesis"})
# HKALL-03: a copy "in place in the circulation collection" of the home library is one that can
# be borrowed there now.
CIRCULATING_TYPES = frozenset({"book", "book_with_disc"})

_TYPE_WORDS = {
    "book": "a book",
    "book_with_disc": "a book with a disc",
    "serial": "a serial",
    "periodical_back_issue": "a back issue of a periodical",
    "media": "multimedia material",
    "thesis": "a thesis",
    "reference": "a reference book",
}
_STATUS_WORDS = {
    "ON_LOAN": "on loan",
    "ON_HOLD_SHELF": "on a hold shelf",
    "IN_TRANSIT": "in transit",
    "ON_ILL_LOAN": "on inter-library loan",
    "MISSING": "missing",
    "LOST": "lost",
    "DAMAGED": "damaged",
    "IN_PROCESSING": "being processed",
}


@dataclass(frozen=True, slots=True)
class HoldingState:
    library: str
    consortium: str | None
    status: str
    material_type: str
    service_point: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request cannot be placed: the rule (``None`` when no numbered rule applies),
    a stable code and a sentence for the patron."""

    rule: str | None
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Requestability:
    requestable: bool
    lenders: tuple[str, ...]
    refusals: tuple[Refusal, ...]


def decide(
    holdings: Sequence[HoldingState],
    *,
    home_library: str,
    consortium: str | None,
    record_material_type: str,
) -> Requestability:
    """Whether a patron of ``home_library`` (in ``consortium``) may request the title."""
    if consortium == HKALL:
        return _decide(
            holdings,
            home_library,
            consortium,
            record_material_type,
            lendable=HKALL_REQUESTABLE_TYPES,
            type_rule="HKALL-01",
            availability_rule="HKALL-02",
            check_home_copy=True,
        )
    if consortium == MALA:
        return _decide(
            holdings,
            home_library,
            consortium,
            record_material_type,
            lendable=None,
            type_rule="MALA-03",
            availability_rule=None,
            check_home_copy=False,
        )
    return Requestability(
        False,
        (),
        (
            Refusal(
                None,
                "no_scheme",
                "your library takes part in no inter-library loan scheme of this catalogue "
                "(HKALL or MALA)",
            ),
        ),
    )


def _type_allowed(material_type: str, lendable: frozenset[str] | None) -> bool:
    if lendable is not None:
        return material_type in lendable
    return material_type not in MALA_EXCLUDED_TYPES


def _type_refusal(rule: str, material_type: str, *, of_copies: bool) -> Refusal:
    what = _TYPE_WORDS.get(material_type, material_type)
    subject = "the copies at the other libraries are" if of_copies else "this is"
    if rule == "HKALL-01":
        reason = f"{subject} {what}: only books can be requested through HKALL"
    else:
        reason = (
            f"{subject} {what}: MALA libraries do not lend reference books, periodicals, "
            "multimedia materials or theses"
        )
    return Refusal(rule, "not_lendable_type", reason)


def _decide(
    holdings: Sequence[HoldingState],
    home: str,
    consortium: str,
    record_type: str,
    *,
    lendable: frozenset[str] | None,
    type_rule: str,
    availability_rule: str | None,
    check_home_copy: bool,
) -> Requestability:
    refusals: list[Refusal] = []
    active = [h for h in holdings if h.status != WITHDRAWN]
    at_lenders = [h for h in active if h.consortium == consortium and h.library != home]
    eligible = [h for h in at_lenders if _type_allowed(h.material_type, lendable)]
    available = [h for h in eligible if h.status == AVAILABLE]

    if check_home_copy:
        on_shelf = [
            h
            for h in active
            if h.library == home and h.status == AVAILABLE and h.material_type in CIRCULATING_TYPES
        ]
        if on_shelf:
            where = on_shelf[0].service_point
            at = f" ({where})" if where else ""
            refusals.append(
                Refusal(
                    "HKALL-03",
                    "copy_at_home",
                    f"your own library has a copy on the shelf{at}: borrow it there",
                )
            )

    if not eligible:
        if at_lenders or not _type_allowed(record_type, lendable):
            # The title is not of a kind that is lent, or its copies at lenders are not.
            if not _type_allowed(record_type, lendable):
                refusals.append(_type_refusal(type_rule, record_type, of_copies=False))
            else:
                shown = at_lenders[0].material_type
                refusals.append(_type_refusal(type_rule, shown, of_copies=True))
        else:
            refusals.append(
                Refusal(
                    availability_rule,
                    "no_lender",
                    f"no other {consortium} library holds a copy",
                )
            )
    if eligible and not available:
        statuses = sorted({_STATUS_WORDS.get(h.status, h.status.lower()) for h in eligible})
        refusals.append(
            Refusal(
                availability_rule,
                "not_available",
                f"no copy is AVAILABLE at another {consortium} library right now "
                f"({', '.join(statuses)})",
            )
        )
    lenders = tuple(sorted({h.library for h in available}))
    # The patron's words name the rule too, as every refusal in the federation does.
    named = tuple(
        Refusal(r.rule, r.code, f"{r.reason} ({r.rule})") if r.rule else r for r in refusals
    )
    return Requestability(not refusals and bool(lenders), lenders, named)
