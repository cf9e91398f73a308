"""The data a notice template gets: everything already written the patron's way."""

from __future__ import annotations

from typing import Any

from libs.common.contracts.events import NoticeRequested
from services.notifier.domain.formatting import format_date, format_money, local_day
from services.notifier.domain.kinds import language_for
from services.notifier.domain.library import LibraryContact
from services.notifier.domain.templates import LAYOUTS, lookup_order


def notice_context(notice: NoticeRequested, library: LibraryContact) -> dict[str, Any]:
    """Template variables for ``notice`` from ``library``.

    Every name is always present (None when the event left it out), so a template can test
    ``{% if pickup_by %}`` while StrictUndefined still catches a misspelt variable.
    Dates are strings in the notice's language; the patron's address is not included: a
    template has no reason to print it.
    """
    language = language_for(notice.language)

    def day(value: Any) -> str | None:
        return format_date(value, language) if value is not None else None

    occurred_on = local_day(notice.occurred_at, library.timezone) if notice.occurred_at else None
    days_overdue = None
    if notice.kind == "overdue" and notice.due_date and occurred_on:
        days_overdue = max((occurred_on - notice.due_date).days, 0) or None
    amount = (
        format_money(notice.amount_minor, notice.currency, language)
        if notice.amount_minor is not None and notice.currency
        else None
    )
    return {
        "notice_id": notice.notice_id,
        "kind": notice.kind,
        "language": language,
        "library": {
            "code": library.code,
            "name": library.name_in(language),
            "email": library.email,
        },
        "patron_name": notice.patron_name,
        "title": notice.title,
        "due_date": day(notice.due_date),
        "pickup_by": day(notice.pickup_by),
        "pickup_location": notice.pickup_location,
        "transaction_ref": notice.transaction_ref,
        "rule": notice.rule,
        "reason": notice.reason,
        "amount": amount,
        "occurred_on": day(occurred_on),
        "days_overdue": days_overdue,
        # Lists of names for {% extends %} / {% include %}: Jinja takes the first that
        # exists, so a library can override the frame as well as each notice.
        "layout": lookup_order(LAYOUTS[0], language, library.code),
        "signature": lookup_order(LAYOUTS[1], language, library.code),
    }
