"""Which notices the events of one operation owe, and to whom: a reservation ready, a fine
or charge (copied to a minor's guarantor, HKPL-16), a lost card report and the suspension it
causes (HKPL-15), any other suspension, and a renewal's refused items (HKALL-13).

Pure: the handler writes what this decides to the outbox. Each notice's id is made from what
caused it, so a retried operation never e-mails twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date

from libs.common.policy import RenewalPlan
from services.circulation.domain.base import DomainModel
from services.circulation.domain.events import (
    AccountSuspended,
    ChargePosted,
    CredentialReportedLost,
    DomainEvent,
    HoldReady,
)
from services.circulation.domain.patrons import GUARANTOR_RULE, Patron

CHARGE_REASONS = {
    "overdue_fine": "overdue fine",
    "lost_item": "lost item",
    "damaged_item": "damaged item",
}
"""The charges the patron is told of, in the notice's words; payments and waivers are not."""


def events_owing_notices(events: Iterable[DomainEvent]) -> list[DomainEvent]:
    """The events of one operation that owe their patron a notice, in order.

    A lost card report already tells the patron the account is suspended until a
    replacement is issued (HKPL-15), so the suspension that report caused in the same
    operation owes no second e-mail saying the same thing."""
    events = list(events)
    lost_reported = {e.patron_id for e in events if isinstance(e, CredentialReportedLost)}
    owed: list[DomainEvent] = []
    for event in events:
        if isinstance(event, (HoldReady, CredentialReportedLost)):
            owed.append(event)
        elif isinstance(event, ChargePosted) and event.entry_kind in CHARGE_REASONS:
            owed.append(event)
        elif isinstance(event, AccountSuspended) and event.patron_id not in lost_reported:
            owed.append(event)
    return owed


def liable_guarantor(patron: Patron, *, on: date) -> str | None:
    """HKPL-16: the patron id of the guarantor liable for a charge the patron incurred on
    ``on``: a guarantor linked to a patron of this library, while the borrower is under 18
    (a charge after the 18th birthday is the borrower's alone)."""
    guarantor = patron.guarantor
    if guarantor is None or guarantor.patron_id is None or not patron.is_minor(on):
        return None
    return guarantor.patron_id


class GuarantorCopy(DomainModel):
    """The fine notice sent to the guarantor, under their own patron reference."""

    notice_id: str
    reason: str


def guarantor_copy(
    patron: Patron, guarantor: Patron | None, event: ChargePosted, *, on: date
) -> GuarantorCopy | None:
    """HKPL-16: the guarantor is liable for the borrower's charges, so the guarantor
    (:func:`liable_guarantor`, as loaded; one whose account is cancelled is sent nothing)
    is sent the fine notice too, with a notice id of its own."""
    if guarantor is None or guarantor.cancelled_on is not None:
        return None
    if liable_guarantor(patron, on=on) != guarantor.patron_id:
        return None
    return GuarantorCopy(
        notice_id=f"charge:{event.entry_id}:guarantor",
        reason=f"{CHARGE_REASONS[event.entry_kind]} on the account of {patron.name_en}, "
        f"for which you are liable as guarantor ({GUARANTOR_RULE})",
    )


def renewal_denial_id(patron_id: str, plan: RenewalPlan, reference: str | None) -> str:
    """HKALL-13: the id of the notice of a renewal's refused items. A partial renewal's
    denial is named by its Transaction Reference Number. A wholly refused one has none: it
    is named by the patron, the day and what was refused why, so asking again the same day
    for the same refused items sends no second e-mail."""
    if reference is not None:
        return f"renewal-denied:{reference}"
    refused = sorted(
        (o.loan_id, *sorted(r.code for r in o.decision.refusals)) for o in plan.refused
    )
    raw = repr((patron_id, plan.renewal_day.isoformat(), refused)).encode()
    return f"renewal-denied:{hashlib.sha256(raw).hexdigest()[:40]}"
