"""Notice events and a library for the unit tests."""

from __future__ import annotations

from datetime import date

from libs.common.contracts.events import NoticeRequested
from services.notifier.domain.library import LibraryContact

EDUHK = LibraryContact(
    code="eduhk",
    name="The Education University of Hong Kong Library",
    email="hkall@eduhk.example.hk",
    timezone="Asia/Hong_Kong",
    names={"zh-Hant": "香港教育大學圖書館"},
)


def notice_event(**overrides: object) -> NoticeRequested:
    values: dict[str, object] = {
        "notice_id": "n-0001",
        "kind": "ill_arrived",
        "library": "eduhk",
        "patron_ref": "eduhk:p-0001",
        "email": "chan.taiman@example.org",
        "patron_name": "Chan Tai Man",
        "language": "en",
        "title": "Pride and Prejudice",
        "pickup_by": date(2026, 12, 1),
        "pickup_location": "MMW Library circulation counter",
    }
    values.update(overrides)
    return NoticeRequested.model_validate(values)
