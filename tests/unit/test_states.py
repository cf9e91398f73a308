"""The one shape of a state machine: named steps from states to a state, refused otherwise."""

from __future__ import annotations

from enum import StrEnum

import pytest

from libs.common.states import IllegalTransition, StateMachine
from services.notifier.domain.status import CLAIMABLE, NOTICE_LIFE, TERMINAL, NoticeStatus


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    LOCKED = "locked"


DOOR = StateMachine.of(
    "door",
    Door,
    {
        "close": ((Door.OPEN,), Door.CLOSED),
        "open": ((Door.CLOSED,), Door.OPEN),
        "lock": ((Door.CLOSED,), Door.LOCKED),
    },
)


def test_a_step_leads_where_the_table_says() -> None:
    assert DOOR.step("open", "close") is Door.CLOSED
    assert DOOR.step(Door.CLOSED, "lock") is Door.LOCKED


def test_a_step_the_table_does_not_allow_is_refused_with_its_name() -> None:
    with pytest.raises(IllegalTransition, match="'lock' is not allowed from 'open'"):
        DOOR.step("open", "lock")
    with pytest.raises(KeyError, match="no step 'kick'"):
        DOOR.step("open", "kick")


def test_sources_targets_and_terminal_states_come_from_the_table() -> None:
    assert DOOR.sources("close") == (Door.OPEN,)
    assert DOOR.target("lock") is Door.LOCKED
    assert DOOR.terminal() == (Door.LOCKED,)
    assert DOOR.can_move("closed", "open") and not DOOR.can_move("locked", "open")


def test_a_notice_is_claimed_from_where_its_delivery_table_says() -> None:
    assert CLAIMABLE == (NoticeStatus.PENDING, NoticeStatus.SENDING, NoticeStatus.RETRY_SCHEDULED)
    assert set(TERMINAL) == {NoticeStatus.SENT, NoticeStatus.FAILED}
    assert NOTICE_LIFE.step("sending", "sent") is NoticeStatus.SENT
    with pytest.raises(IllegalTransition):
        NOTICE_LIFE.step("failed", "claim")
