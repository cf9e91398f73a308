"""When to try an SMTP delivery again, and when to give up and show operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a ceiling, and a limit on attempts.

    With the defaults a notice is tried eight times, waiting 30 s, 1, 2, 4, 8, 16 and
    32 minutes in between, then marked failed: about an hour, long enough to ride out a
    mail server restart, short enough that operators hear of a real outage the same day.
    """

    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.first_delay <= timedelta(0):
            raise ValueError("first_delay must be positive")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if self.max_delay < self.first_delay:
            raise ValueError("max_delay must not be shorter than first_delay")

    def delay_after(self, attempt: int) -> timedelta:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        # Multiply step by step and stop at the ceiling: factor ** attempt would overflow
        # a float for a notice that somehow kept failing for thousands of attempts.
        seconds = self.first_delay.total_seconds()
        for _ in range(attempt - 1):
            seconds *= self.factor
            if seconds >= self.max_delay.total_seconds():
                return self.max_delay
        return timedelta(seconds=seconds)

    def next_attempt_at(
        self, attempts_made: int, now: datetime, *, permanent: bool = False
    ) -> datetime | None:
        """When to try again after ``attempts_made`` attempts failed; None means give up.

        A permanent refusal (the server said 5xx to this recipient or message) is not
        retried: asking again gets the same answer and only delays the operator.
        """
        if permanent or attempts_made >= self.max_attempts:
            return None
        return now + self.delay_after(attempts_made)
