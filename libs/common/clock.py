"""One injectable clock for every time-dependent piece of the federation.

Services never call ``datetime.now()``: they are handed a :class:`Clock`. Production uses
:class:`SystemClock`; tests use :class:`ManualClock` and move it forward instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


def local_date(clock: Clock, tz: str) -> date:
    """Today's calendar date where the library stands (days are counted in local time)."""
    return clock.now().astimezone(ZoneInfo(tz)).date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests set and advance; it never moves by itself."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


#: Names a file whose content is a number of seconds every process of a federation adds to the
#: real time: the demo and the end-to-end tests move the clock of a running federation (both
#: ways of running, every process at once) instead of waiting days. Development and test only.
CLOCK_FILE = "ILLFED_CLOCK_FILE"


class SharedOffsetClock:
    """Real time plus the offset in seconds that ``path`` holds (0 while it is missing). The
    file is read again only when it changes, so asking the time stays cheap."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: float | None = None
        self._offset = timedelta()

    def _read(self) -> timedelta:
        import os

        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return timedelta()
        if stamp != self._stamp:
            try:
                with open(self.path) as f:
                    self._offset = timedelta(seconds=float(f.read().strip() or 0))
                self._stamp = stamp
            except (OSError, ValueError):
                pass  # a file being rewritten: keep the last offset, read it next time
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._read()

    @staticmethod
    def move(path: str, delta: timedelta) -> None:
        """Move every process reading ``path`` forward by ``delta`` (what tests call)."""
        import os

        try:
            with open(path) as f:
                current = float(f.read().strip() or 0)
        except FileNotFoundError:
            current = 0.0
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(str(current + delta.total_seconds()))
        os.replace(tmp, path)


def clock_from_environment(environment: str = "development") -> Clock:
    """The system clock, or the shared offset clock where ``ILLFED_CLOCK_FILE`` names one (never
    in production: a deployment's time is the real time)."""
    import os

    path = os.environ.get(CLOCK_FILE)
    if not path:
        return SystemClock()
    if environment == "production":
        raise ValueError(f"{CLOCK_FILE} moves the clock; it is not allowed in production")
    return SharedOffsetClock(path)
