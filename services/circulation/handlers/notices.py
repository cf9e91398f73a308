"""The notices a patron is owed, written to the outbox as ``notice.requested`` for the
notifier: reservation ready, renewal approved (HKPL-06) or refused (HKALL-13, HKPL-03), a
fine or charge, a lost card report and the suspension it causes (HKPL-15), overdue reminders
(HKALL-15) and the suspensions overdue loans cause (HKALL-18, HKALL-19).

Only the home library sends these, since only it knows the patron's address. Each notice has
a stable id made from what caused it, so a retried operation never e-mails twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import NoticeRequested
from libs.common.messaging.outbox import send
from libs.common.policy import Refusal
from services.circulation.adapters import patrons_repo
from services.circulation.adapters.tables import outbox
from services.circulation.domain.events import (
    AccountSuspended,
    ChargePosted,
    CredentialReportedLost,
    DomainEvent,
    HoldReady,
)
from services.circulation.domain.notices import (
    CHARGE_REASONS,
    events_owing_notices,
    guarantor_copy,
    liable_guarantor,
)
from services.circulation.domain.overdue import LoanNotice
from services.circulation.domain.patrons import Patron
from services.circulation.handlers.context import Library

NOTIFIER = "notifier"


async def request_notice(
    conn: AsyncConnection, lib: Library, patron: Patron, kind: str, notice_id: str, **fields
) -> None:
    notice = NoticeRequested(
        notice_id=notice_id[:64],
        kind=kind,
        library=lib.code,
        # The patron id is this library's own, meaningless anywhere else (pseudonymous).
        patron_ref=patron.patron_id,
        email=patron.email,
        patron_name=patron.name_en,
        language=patron.language,
        occurred_at=lib.now(),
        **fields,
    )
    await send(
        conn,
        outbox,
        notice,
        sender=lib.code,
        recipient=NOTIFIER,
        correlation_id=f"patron:{patron.patron_id}"[:64],
        clock=lib.clock,
        causation_id=None,
    )


async def notify_events(
    conn: AsyncConnection,
    lib: Library,
    patrons: Mapping[str, Patron],
    events: Iterable[DomainEvent],
    titles: Mapping[str, str] | None = None,
) -> None:
    """Turn the domain events of one operation into the notices they owe.

    ``patrons`` holds every patron the events may name; ``titles`` maps item ids to titles.
    """
    titles = titles or {}
    for event in events_owing_notices(events):
        patron = patrons.get(getattr(event, "patron_id", ""))
        if patron is None:
            continue
        if isinstance(event, HoldReady):
            await request_notice(
                conn,
                lib,
                patron,
                "reservation_ready",
                f"hold-ready:{event.hold_id}:{event.item_id}",
                title=titles.get(event.item_id) or event.title_id,
                pickup_location=lib.service_point_name(event.pickup_location),
                pickup_by=event.pickup_by,
            )
        elif isinstance(event, ChargePosted):
            await request_notice(
                conn,
                lib,
                patron,
                "fine",
                f"charge:{event.entry_id}",
                amount_minor=event.amount_minor,
                currency=event.currency,
                rule=event.rule,
                reason=CHARGE_REASONS[event.entry_kind],
            )
            await _copy_to_guarantor(conn, lib, patron, event)
        elif isinstance(event, CredentialReportedLost):
            await request_notice(
                conn,
                lib,
                patron,
                "lost_card_reported",
                f"lost:{event.reference}:{event.occurred_at.isoformat()}",
                rule="HKPL-15",
            )
        elif isinstance(event, AccountSuspended):
            await request_notice(
                conn,
                lib,
                patron,
                "suspension",
                f"suspension:{event.rule}:{event.occurred_at.isoformat()}",
                rule=event.rule,
                reason=event.reason,
            )


async def _copy_to_guarantor(
    conn: AsyncConnection, lib: Library, patron: Patron, event: ChargePosted
) -> None:
    """HKPL-16: the fine notice again, to the guarantor liable for the charge."""
    on = lib.policy.local_date(event.occurred_at)
    guarantor_id = liable_guarantor(patron, on=on)
    if guarantor_id is None:
        return
    liable = await patrons_repo.get_patron(conn, lib.code, guarantor_id)
    copy = guarantor_copy(patron, liable, event, on=on)
    if liable is None or copy is None:
        return
    await request_notice(
        conn,
        lib,
        liable,
        "fine",
        copy.notice_id,
        amount_minor=event.amount_minor,
        currency=event.currency,
        rule=event.rule,
        reason=copy.reason,
    )


def renewed_items_text(renewed: list[tuple[str, date]]) -> tuple[str, date]:
    """HKPL-06: the new due date of each item, within the notice's one title and one due
    date. When the items fall due on different days each title carries its own date, and
    the notice's due date is the earliest, the first one the patron must keep."""
    dates = {due for _, due in renewed}
    if len(dates) == 1:
        return "; ".join(title for title, _ in renewed)[:500], dates.pop()
    titles = "; ".join(f"{title} (due {due.isoformat()})" for title, due in renewed)
    return titles[:500], min(dates)


async def notify_renewal(
    conn: AsyncConnection,
    lib: Library,
    patron: Patron,
    reference: str,
    renewed: list[tuple[str, date]],
) -> None:
    """HKPL-06: the renewal result with its Transaction Reference Number and the new due
    date of every item renewed (``renewed``: title and new due date per item)."""
    title, due_date = renewed_items_text(renewed)
    await request_notice(
        conn,
        lib,
        patron,
        "renewal_approved",
        f"renewal:{reference}",
        title=title,
        due_date=due_date,
        transaction_ref=reference,
    )


async def notify_renewal_denied(
    conn: AsyncConnection,
    lib: Library,
    patron: Patron,
    notice_id: str,
    refused: list[tuple[str, date, list[Refusal]]],
    *,
    transaction_ref: str | None = None,
) -> None:
    """HKALL-13, HKPL-03/05: one notice per renewal request naming every item refused, the
    rules and the reasons; ``refused`` holds (title, unchanged due date, refusals) per item.
    With a partial renewal the Transaction Reference Number of the renewed part is given."""
    rules = list(dict.fromkeys(r.rule for _, _, refusals in refused for r in refusals))
    # The template puts the rule IDs after the reason, so the words here carry none.
    per_item = [
        (title, "; ".join(dict.fromkeys(r.reason for r in refusals)))
        for title, _, refusals in refused
    ]
    if len(per_item) == 1:
        reasons = per_item[0][1]
    else:
        reasons = " | ".join(f"{title}: {reason}" for title, reason in per_item)
    await request_notice(
        conn,
        lib,
        patron,
        "renewal_denied",
        notice_id,
        title="; ".join(dict.fromkeys(title for title, _, _ in refused))[:500],
        # A single due date is only meaningful when one date is concerned.
        due_date=refused[0][1] if len({d for _, d, _ in refused}) == 1 else None,
        transaction_ref=transaction_ref,
        rule=", ".join(rules)[:64] or None,
        reason=reasons[:2000],
    )


async def notify_loan_notice(
    conn: AsyncConnection, lib: Library, patron: Patron, notice: LoanNotice, title: str
) -> None:
    """An overdue reminder (HKALL-15) with the due date and the fine so far, or the
    suspension an overdue loan caused (HKALL-18, HKALL-19) naming the item."""
    fine = notice.fine
    await request_notice(
        conn,
        lib,
        patron,
        notice.kind,
        notice.notice_id,
        title=title,
        due_date=notice.loan.due_date,
        rule=notice.rule,
        reason=notice.reason,
        amount_minor=fine.amount_minor if fine else None,
        currency=fine.currency if fine else None,
    )
