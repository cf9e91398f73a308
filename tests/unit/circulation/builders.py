"""Builders for circulation state, so each test states only what matters to it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from libs.common.money import Money
from services.circulation.domain.items import Item
from services.circulation.domain.patrons import Address, Guarantor, Patron, PatronApplication

HK = ZoneInfo("Asia/Hong_Kong")


def hk(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HK)


ADDRESS = Address(lines=("1 Library Road",), district="Central")


def application(**fields: object) -> PatronApplication:
    values: dict[str, object] = {
        "library": "hkpl",
        "category": "adult",
        "name_en": "CHAN, Tai Man",
        "name_zh": "陳大文",
        "date_of_birth": date(1990, 6, 1),
        "address": ADDRESS,
        "email": "taiman@example.hk",
        "phone": "+852 9123 4567",
    }
    values.update(fields)
    return PatronApplication(**values)  # type: ignore[arg-type]


def patron(**fields: object) -> Patron:
    values: dict[str, object] = {
        "patron_id": "P1",
        "library": "hkpl",
        "category": "adult",
        "name_en": "CHAN, Tai Man",
        "date_of_birth": date(1990, 6, 1),
        "address": ADDRESS,
        "email": "taiman@example.hk",
        "registered_on": date(2020, 1, 1),
    }
    values.update(fields)
    return Patron(**values)  # type: ignore[arg-type]


def guarantor(**fields: object) -> Guarantor:
    values: dict[str, object] = {
        "name": "CHAN, Siu Ming",
        "relationship": "parent",
        "date_of_birth": date(1980, 1, 1),
    }
    values.update(fields)
    return Guarantor(**values)  # type: ignore[arg-type]


def book(item_id: str = "I1", **fields: object) -> Item:
    values: dict[str, object] = {
        "item_id": item_id,
        "library": "hkpl",
        "title_id": f"T-{item_id}",
        "title": "A Book",
        "price": Money(amount_minor=20000, currency="HKD"),
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


def book_with_disc(set_id: str = "S1", **fields: object) -> tuple[Item, Item]:
    main = book(f"{set_id}-book", set_id=set_id, material_type="book_with_disc", **fields)
    disc = book(
        f"{set_id}-disc",
        set_id=set_id,
        main_item_id=main.item_id,
        material_type="book_with_disc",
        **fields,
    )
    return main, disc
