"""Notice events as a home library sends them; each test overrides what it checks."""

from __future__ import annotations

import uuid
from datetime import date

from libs.common.contracts.events import NoticeRequested


def notice_event(**overrides: object) -> NoticeRequested:
    values: dict[str, object] = {
        "notice_id": f"n-{uuid.uuid4().hex[:12]}",
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
