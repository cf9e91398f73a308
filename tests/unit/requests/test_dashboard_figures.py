"""The dashboard's figures: fill rates per library as borrower and as lender, requests per
day with the empty days, the median time from request to pickup."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.requests.domain.dashboard import (
    library_figures,
    per_day,
    pickup_hours,
    pickup_hours_by_library,
)


def test_fill_rates_count_only_what_ended_one_way_or_the_other():
    figures = {
        f.library: f
        for f in library_figures(
            ["eduhk", "hkbu", "cuhk"],
            [("eduhk", "Loaned", 2), ("eduhk", "Unfilled", 1), ("eduhk", "Requested", 5)],
            [
                [
                    {"lender": "hkbu", "outcome": "declined"},
                    {"lender": "cuhk", "outcome": "supplying"},
                ],
                [{"lender": "cuhk", "outcome": "asked"}],
            ],
        )
    }
    assert figures["eduhk"].borrowing == 8
    assert figures["eduhk"].borrowing_fill_rate == 2 / 3
    assert figures["hkbu"].lending_fill_rate == 0.0
    assert figures["cuhk"].lending_asked == 2 and figures["cuhk"].lending_fill_rate == 1.0
    assert figures["eduhk"].lending_fill_rate is None
    assert figures["eduhk"].balance == -2 and figures["cuhk"].balance == 1


def test_requests_per_day_in_the_consortiums_time_zone():
    hk = ZoneInfo("Asia/Hong_Kong")
    late = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 1 a.m. on 2 March in Hong Kong
    days = per_day([late, late - timedelta(days=1)], date(2026, 3, 2), 3, hk)
    assert days == [(date(2026, 2, 28), 0), (date(2026, 3, 1), 1), (date(2026, 3, 2), 1)]


def test_median_time_to_pickup():
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    pairs = [(t0, t0 + timedelta(hours=h)) for h in (10, 30, 50)]
    assert pickup_hours(pairs) == 30
    assert pickup_hours([]) is None
    rows = [("eduhk", a, b) for a, b in pairs] + [("um", t0, t0 + timedelta(hours=4))]
    assert pickup_hours_by_library(rows) == {"eduhk": 30, "um": 4}
