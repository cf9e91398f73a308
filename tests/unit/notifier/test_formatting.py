"""Dates and money as each language writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.notifier.domain.formatting import format_date, format_money, local_day


def test_dates() -> None:
    assert format_date(date(2026, 12, 1), "en") == "2026-12-01"
    assert format_date(date(2026, 12, 1), "zh-Hant") == "2026年12月1日"


def test_money_in_minor_units() -> None:
    assert format_money(3000, "HKD", "en") == "HKD 30.00"
    assert format_money(150, "HKD", "zh-Hant") == "港幣1.50元"
    assert format_money(6000, "MOP", "zh-Hant") == "澳門幣60.00元"
    assert format_money(12345600, "MOP", "en") == "MOP 123,456.00"
    assert format_money(-50, "HKD", "en") == "HKD -0.50"
    assert format_money(100, "USD", "zh-Hant") == "USD 1.00"


def test_the_day_is_the_librarys_local_day() -> None:
    late_evening_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert local_day(late_evening_utc, "Asia/Hong_Kong") == date(2026, 12, 1)
    assert local_day(late_evening_utc, "UTC") == date(2026, 11, 30)
