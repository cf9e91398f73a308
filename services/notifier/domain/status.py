"""The life of a notice: pending → sending → sent | retry_scheduled → … → failed."""

from __future__ import annotations

from enum import StrEnum


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY_SCHEDULED = "retry_scheduled"
    SENT = "sent"
    FAILED = "failed"


class InvalidTransition(ValueError):
    pass


_ALLOWED: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    NoticeStatus.PENDING: frozenset({NoticeStatus.SENDING}),
    # sending → sending: a worker that died mid-send leaves its lease to lapse, and the
    # notice is claimed again rather than lost.
    NoticeStatus.SENDING: frozenset(
        {
            NoticeStatus.SENDING,
            NoticeStatus.SENT,
            NoticeStatus.RETRY_SCHEDULED,
            NoticeStatus.FAILED,
        }
    ),
    NoticeStatus.RETRY_SCHEDULED: frozenset({NoticeStatus.SENDING}),
    # Terminal: a sent notice is never sent again, a failed one waits for an operator.
    NoticeStatus.SENT: frozenset(),
    NoticeStatus.FAILED: frozenset(),
}

# A worker may pick these up once their next_attempt_at has come (for SENDING that moment
# is the end of the previous worker's lease).
CLAIMABLE: tuple[NoticeStatus, ...] = (
    NoticeStatus.PENDING,
    NoticeStatus.RETRY_SCHEDULED,
    NoticeStatus.SENDING,
)
TERMINAL: tuple[NoticeStatus, ...] = (NoticeStatus.SENT, NoticeStatus.FAILED)


def can_move(current: NoticeStatus | str, new: NoticeStatus | str) -> bool:
    return NoticeStatus(new) in _ALLOWED[NoticeStatus(current)]


def ensure_transition(current: NoticeStatus | str, new: NoticeStatus | str) -> NoticeStatus:
    """Return ``new`` as a status, or refuse a move the life of a notice does not allow."""
    if not can_move(current, new):
        raise InvalidTransition(f"a notice cannot go from {current} to {new}")
    return NoticeStatus(new)
