"""The renewal approved notice within the notice contract's one title and due date
(HKPL-06)."""

from __future__ import annotations

from datetime import date

from services.circulation.handlers.notices import renewed_items_text


def test_hkpl_06_the_renewal_notice_gives_every_items_new_due_date():
    one_day = [("Book A", date(2026, 3, 10)), ("Book B", date(2026, 3, 10))]
    assert renewed_items_text(one_day) == ("Book A; Book B", date(2026, 3, 10))
    two_days = [("Book A", date(2026, 3, 12)), ("Book B", date(2026, 3, 10))]
    assert renewed_items_text(two_days) == (
        "Book A (due 2026-03-12); Book B (due 2026-03-10)",
        date(2026, 3, 10),
    )
