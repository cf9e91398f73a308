"""Dates and money the way each language writes them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from libs.common.money import CURRENCIES

# Chinese readers expect the currency named, not its ISO code.
_CURRENCY_NAMES_ZH = {"HKD": "港幣", "MOP": "澳門幣"}


def format_date(day: date, language: str) -> str:
    """``2026-12-01`` in English, ``2026年12月1日`` in Traditional Chinese."""
    if language == "zh-Hant":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar day an instant falls on where the library stands."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """``HKD 30.00`` in English, ``港幣30.00元`` in Traditional Chinese."""
    digits = CURRENCIES.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), 10**digits)
    number = f"{sign}{whole:,}.{part:0{digits}d}" if digits else f"{sign}{whole:,}"
    if language == "zh-Hant" and currency in _CURRENCY_NAMES_ZH:
        return f"{_CURRENCY_NAMES_ZH[currency]}{number}元"
    return f"{currency} {number}"
