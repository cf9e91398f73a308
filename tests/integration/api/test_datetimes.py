"""Every instant an API answers is RFC 3339 with its offset, on SQLite as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.api.conftest import BOOK, bearer, token_for


def _aware(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    assert when.tzinfo is not None, f"{value} has no time zone"
    return when


async def test_an_items_times_come_back_with_their_time_zone(cityu):
    h = bearer(await token_for(cityu, "cityu"))
    item = (await cityu.post("/api/v1/items", json=BOOK, headers=h)).json()
    again = (await cityu.get(f"/api/v1/items/{item['id']}", headers=h)).json()
    assert _aware(again["updated_at"]) == cityu.runtime.clock.now().astimezone(UTC)
