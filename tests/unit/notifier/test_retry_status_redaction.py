"""Retry schedule, the life of a notice, and what is erased when it ends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.redaction import (
    erased_personal,
    must_erase,
    personal_part,
    scrub,
    without_personal,
)
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.status import (
    CLAIMABLE,
    InvalidTransition,
    NoticeStatus,
    can_move,
    ensure_transition,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_the_ceiling() -> None:
    policy = RetryPolicy(
        max_attempts=10, first_delay=timedelta(seconds=30), max_delay=timedelta(minutes=5)
    )
    delays = [policy.delay_after(n).total_seconds() for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 300, 300, 300]
    assert policy.delay_after(10_000) == timedelta(minutes=5)  # no overflow


def test_next_attempt_until_the_limit_then_give_up() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_attempt_at(1, NOW) == NOW + timedelta(seconds=30)
    assert policy.next_attempt_at(2, NOW) == NOW + timedelta(seconds=60)
    assert policy.next_attempt_at(3, NOW) is None


def test_a_permanent_refusal_is_not_retried() -> None:
    assert RetryPolicy().next_attempt_at(1, NOW, permanent=True) is None


def test_default_policy_spans_about_an_hour() -> None:
    policy = RetryPolicy()
    waited = sum((policy.delay_after(n) for n in range(1, policy.max_attempts)), timedelta())
    assert timedelta(minutes=45) <= waited <= timedelta(hours=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"first_delay": timedelta(0)},
        {"factor": 0.5},
        {"first_delay": timedelta(hours=2), "max_delay": timedelta(hours=1)},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
    with pytest.raises(ValueError):
        RetryPolicy().delay_after(0)


def test_life_of_a_notice() -> None:
    path = ["pending", "sending", "retry_scheduled", "sending", "sent"]
    for current, new in itertools.pairwise(path):
        assert ensure_transition(current, new) == NoticeStatus(new)
    assert can_move("sending", "failed")
    assert can_move("sending", "sending")  # a lapsed lease is claimed again
    for terminal in ("sent", "failed"):
        for other in NoticeStatus:
            assert not can_move(terminal, other)
    with pytest.raises(InvalidTransition):
        ensure_transition("pending", "sent")
    assert NoticeStatus.SENT not in CLAIMABLE and NoticeStatus.FAILED not in CLAIMABLE


def test_personal_data_is_kept_apart_and_erased_when_the_notice_ends() -> None:
    payload = {"email": "a@example.org", "patron_name": "Chan", "title": "T", "kind": "fine"}
    assert without_personal(payload) == {"title": "T", "kind": "fine"}
    assert personal_part(payload) == {"email": "a@example.org", "patron_name": "Chan"}
    assert erased_personal() == {"email": None, "patron_name": None}
    assert must_erase("sent") and must_erase("failed")
    assert not must_erase("retry_scheduled") and not must_erase("pending")


def test_error_texts_lose_the_address_and_stay_short() -> None:
    text = "550 5.1.1 <a@example.org>: user a@example.org unknown\r\n(Chan)"
    assert scrub(text, ["a@example.org", "Chan", None]) == (
        "550 5.1.1 <[redacted]>: user [redacted] unknown ([redacted])"
    )
    assert len(scrub("x" * 2000, [])) == 500
