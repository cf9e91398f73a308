"""Every process of a running federation moves its clock together when the clock file says
so (the demo and the end-to-end tests skip days without waiting); production refuses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.clock import (
    CLOCK_FILE,
    SharedOffsetClock,
    SystemClock,
    clock_from_environment,
)


def test_two_clocks_on_one_file_move_together(tmp_path):
    path = str(tmp_path / "clock")
    first, second = SharedOffsetClock(path), SharedOffsetClock(path)
    assert abs(first.now() - datetime.now(UTC)) < timedelta(seconds=5)
    SharedOffsetClock.move(path, timedelta(days=5))
    SharedOffsetClock.move(path, timedelta(hours=2))
    for clock in (first, second):
        ahead = clock.now() - datetime.now(UTC)
        assert (
            timedelta(days=5, hours=2) - timedelta(seconds=5)
            < ahead
            < timedelta(days=5, hours=2, seconds=5)
        )


def test_the_environment_picks_the_clock(tmp_path, monkeypatch):
    monkeypatch.delenv(CLOCK_FILE, raising=False)
    assert isinstance(clock_from_environment(), SystemClock)
    monkeypatch.setenv(CLOCK_FILE, str(tmp_path / "clock"))
    assert isinstance(clock_from_environment("test"), SharedOffsetClock)
    with pytest.raises(ValueError, match="not allowed in production"):
        clock_from_environment("production")
