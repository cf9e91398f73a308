"""Small builders for policy facts, so each test states only what matters to it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from libs.common.policy import AccountFacts, ItemFacts, LoanFacts

HK = ZoneInfo("Asia/Hong_Kong")
MACAU = ZoneInfo("Asia/Macau")


def hk_time(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HK)


def loan(
    loan_id: str = "L1",
    *,
    checkout: date = date(2026, 3, 1),
    due: date | None = None,
    **fields: object,
) -> LoanFacts:
    fields.setdefault("item_id", f"item-{loan_id}")
    return LoanFacts(
        loan_id=loan_id,
        checkout_date=checkout,
        due_date=due or checkout + timedelta(days=14),
        **fields,  # type: ignore[arg-type]
    )


def loans(n: int, **fields: object) -> list[LoanFacts]:
    return [loan(f"L{i}", **fields) for i in range(1, n + 1)]


def account(*loan_facts: LoanFacts, **fields: object) -> AccountFacts:
    return AccountFacts(loans=tuple(loan_facts), **fields)  # type: ignore[arg-type]


def item(item_id: str = "new-1", **fields: object) -> ItemFacts:
    return ItemFacts(item_id=item_id, **fields)  # type: ignore[arg-type]
