"""The life of a notice: pending → sending → sent | retry_scheduled → … → failed."""

from __future__ import annotations

from enum import StrEnum

from libs.common.states import IllegalTransition, StateMachine


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY_SCHEDULED = "retry_scheduled"
    SENT = "sent"
    FAILED = "failed"


InvalidTransition = IllegalTransition

# The steps of a notice's life; the repository applies each one as a guarded update.
NOTICE_LIFE: StateMachine[NoticeStatus] = StateMachine.of(
    "notice delivery",
    NoticeStatus,
    {
        # sending → sending: a worker that died mid-send leaves its lease to lapse, and the
        # notice is claimed again rather than lost.
        "claim": (
            (NoticeStatus.PENDING, NoticeStatus.RETRY_SCHEDULED, NoticeStatus.SENDING),
            NoticeStatus.SENDING,
        ),
        "sent": ((NoticeStatus.SENDING,), NoticeStatus.SENT),
        "retry": ((NoticeStatus.SENDING,), NoticeStatus.RETRY_SCHEDULED),
        "give_up": ((NoticeStatus.SENDING,), NoticeStatus.FAILED),
    },
)

# A worker may pick these up once their next_attempt_at has come (for SENDING that moment
# is the end of the previous worker's lease).
CLAIMABLE: tuple[NoticeStatus, ...] = NOTICE_LIFE.sources("claim")
# Terminal: a sent notice is never sent again, a failed one waits for an operator.
TERMINAL: tuple[NoticeStatus, ...] = NOTICE_LIFE.terminal()


def can_move(current: NoticeStatus | str, new: NoticeStatus | str) -> bool:
    return NOTICE_LIFE.can_move(current, new)


def ensure_transition(current: NoticeStatus | str, new: NoticeStatus | str) -> NoticeStatus:
    """Return ``new`` as a status, or refuse a move the life of a notice does not allow."""
    if not can_move(current, new):
        raise IllegalTransition(NOTICE_LIFE.name, str(current), f"to {new}")
    return NoticeStatus(new)
