"""The consortium's figures the dashboard shows, from the registry's rows: each library's
borrowing and lending counts and fill rates, requests per day, and time from request to
pickup. Pure: given the rows, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from statistics import median
from typing import Any

from services.requests.domain.broker import ON_LOAN, BrokerState

#: a request that reached the requester: the item was lent
FILLED = frozenset({*ON_LOAN, BrokerState.LoanCompleted, BrokerState.CompletedWithoutReturn})
UNFILLED = frozenset({BrokerState.Unfilled})


@dataclass
class LibraryFigures:
    library: str
    borrowing: int = 0  # requests its patrons made
    borrowing_filled: int = 0
    borrowing_unfilled: int = 0
    lending_asked: int = 0  # times it was asked to supply
    lending_supplied: int = 0
    lending_declined: int = 0  # said no, or did not answer in time

    @property
    def borrowing_fill_rate(self) -> float | None:
        """Of its patrons' requests that ended one way or the other, the share filled."""
        done = self.borrowing_filled + self.borrowing_unfilled
        return self.borrowing_filled / done if done else None

    @property
    def balance(self) -> int:
        """Loans it supplied less loans its patrons received: what it gives the consortium
        against what it takes."""
        return self.lending_supplied - self.borrowing_filled

    @property
    def lending_fill_rate(self) -> float | None:
        """Of the requests it answered, the share it supplied."""
        answered = self.lending_supplied + self.lending_declined
        return self.lending_supplied / answered if answered else None


def library_figures(
    libraries: Iterable[str],
    borrowing: Iterable[tuple[str, str, int]],
    tried: Iterable[list[Mapping[str, Any]]],
) -> list[LibraryFigures]:
    figures = {code: LibraryFigures(code) for code in libraries}
    for requester, state, n in borrowing:
        f = figures.setdefault(requester, LibraryFigures(requester))
        f.borrowing += n
        if state in FILLED:
            f.borrowing_filled += n
        elif state in UNFILLED:
            f.borrowing_unfilled += n
    for attempts in tried:
        for a in attempts:
            lender = str(a.get("lender"))
            f = figures.setdefault(lender, LibraryFigures(lender))
            f.lending_asked += 1
            if a.get("outcome") == "supplying":
                f.lending_supplied += 1
            elif a.get("outcome") in ("declined", "no_answer"):
                f.lending_declined += 1
    return list(figures.values())


def per_day(
    moments: Iterable[datetime], today: date, days: int, tz: tzinfo
) -> list[tuple[date, int]]:
    """How many happened on each of the last ``days`` days (in the consortium's time zone),
    oldest first, days with none included."""
    counts = {today - timedelta(days=n): 0 for n in range(days)}
    for moment in moments:
        day = moment.astimezone(tz).date()
        if day in counts:
            counts[day] += 1
    return sorted(counts.items())


def pickup_hours(pairs: Iterable[tuple[datetime, datetime]]) -> float | None:
    """The median time, in hours, from a patron's request to picking the item up."""
    hours = [(b - a).total_seconds() / 3600 for a, b in pairs if b >= a]
    return median(hours) if hours else None


def pickup_hours_by_library(
    rows: Iterable[tuple[str, datetime, datetime]],
) -> dict[str, float]:
    """The median time from request to pickup of each requesting library's patrons."""
    by: dict[str, list[tuple[datetime, datetime]]] = {}
    for library, asked, picked in rows:
        by.setdefault(library, []).append((asked, picked))
    out = {lib: pickup_hours(pairs) for lib, pairs in sorted(by.items())}
    return {lib: h for lib, h in out.items() if h is not None}
