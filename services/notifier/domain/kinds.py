"""Which notices exist, in which languages, and what each one cannot be sent without."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from libs.common.contracts.events import NoticeKind, NoticeRequested

NOTICE_KINDS: tuple[str, ...] = get_args(NoticeKind)

LANGUAGES: tuple[str, ...] = get_args(NoticeRequested.model_fields["language"].annotation)
DEFAULT_LANGUAGE = "en"

# A notice that lacks one of these says nothing useful, so it is failed (and shown to
# operators) instead of sending a patron an e-mail with blanks in it.
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    # HKALL-05: the e-mail says where the book is; HKALL-06: and the last day to collect it.
    "ill_arrived": ("title", "pickup_location", "pickup_by"),
    "reservation_ready": ("title", "pickup_location", "pickup_by"),
    # HKALL-11, MALA-06: a recall gives the date the item must be back by.
    "recall": ("title", "due_date"),
    # HKALL-15: an overdue notice names the book and the date it was due. Repeats follow
    # the home library's policy schedule and arrive as events with their own notice_id,
    # each sent once.
    "overdue": ("title", "due_date"),
    # HKALL-13, HKPL-06: the new due date and the Transaction Reference Number.
    "renewal_approved": ("title", "due_date", "transaction_ref"),
    "renewal_denied": ("title",),
    "fine": ("amount_minor", "currency"),
    "suspension": (),
    "lost_card_reported": (),
    "ill_unfilled": ("title",),
    "ill_cancelled": ("title",),
    # HKALL-20, MALA-11: the lender's charge for its lost or damaged item, and how much.
    "ill_charged": ("title", "amount_minor", "currency"),
    # HKALL-18, HKALL-19: the condition that suspended the patron is cleared.
    "suspension_lifted": (),
}

if set(REQUIRED_FIELDS) != set(NOTICE_KINDS):
    raise RuntimeError("every notice kind of the contract needs an entry in REQUIRED_FIELDS")


def language_for(preference: str | None) -> str:
    """The language a notice is written in: the patron's preference when we have templates."""
    if preference in LANGUAGES:
        return preference
    return DEFAULT_LANGUAGE


def missing_fields(kind: str, data: Mapping[str, Any]) -> list[str]:
    """The fields ``kind`` needs that ``data`` lacks (empty strings count as missing)."""
    if kind not in REQUIRED_FIELDS:
        raise ValueError(f"unknown notice kind: {kind!r}")
    return [name for name in REQUIRED_FIELDS[kind] if data.get(name) in (None, "")]
