"""Privacy: the patron's address and name stay only as long as delivery needs them.

The home library sends them with the event; once a notice is sent or has failed for good
they are erased, so the record of notices keeps who (a pseudonymous reference), which
library, what kind and what happened — never how to reach the patron.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.notifier.domain.status import TERMINAL, NoticeStatus

PERSONAL_FIELDS: tuple[str, ...] = ("email", "patron_name")
ERASED = "[redacted]"
MAX_ERROR_LENGTH = 500


def without_personal(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a notice that may be kept and shown once it is delivered."""
    return {key: value for key, value in payload.items() if key not in PERSONAL_FIELDS}


def personal_part(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part that is kept apart, only until the notice reaches a terminal status."""
    return {key: payload.get(key) for key in PERSONAL_FIELDS}


def erased_personal() -> dict[str, None]:
    """Column values that erase the personal part."""
    return dict.fromkeys(PERSONAL_FIELDS)


def must_erase(status: NoticeStatus | str) -> bool:
    return NoticeStatus(status) in TERMINAL


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """An error text safe to keep: SMTP servers like to quote the refused address back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, ERASED)
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 1] + "…"
    return text
