"""Library cards: issue, lost-card report (HKPL-15), replacement (HKPL-12) and cancellation
(HKPL-17). Every card opens the same account (HKPL-18)."""

from __future__ import annotations

from datetime import date, datetime

from libs.common.policy import Decision, Policy, card_replacement_fee
from services.circulation.domain.credentials import (
    SMART_ID_REF,
    CredentialChange,
    CredentialSet,
    LibraryCard,
    Outstanding,
    refuse,
    refused,
    withdraw,
)
from services.circulation.domain.events import CredentialBound, CredentialReportedLost, DomainEvent
from services.circulation.domain.ledger import charge_entry
from services.circulation.domain.patrons import Patron


def issue_library_card(
    creds: CredentialSet, card_number: str, *, on: date, guarantor_card: bool = False
) -> CredentialSet:
    """Add a new library card to the account (HKPL-18: it opens the same account)."""
    if any(c.card_number == card_number for c in creds.cards):
        raise ValueError(f"library card {card_number!r} is already on this account")
    card = LibraryCard(card_number=card_number, issued_on=on, guarantor_card=guarantor_card)
    return creds.model_copy(update={"cards": (*creds.cards, card)})


def card_ends_smart_id_suspension(
    creds: CredentialSet, patron: Patron, *, at: datetime
) -> tuple[Patron, list[DomainEvent]]:
    """HKPL-15: a smart ID card lost and discontinued in the same report (HKPL-19) suspends
    an account left with nothing to borrow with; a library card issued later is that
    account's way to borrow again, so it ends the suspension."""
    sid = creds.smart_id
    if sid is None or sid.status != "discontinued" or sid.reported_lost_at is None:
        return patron, []
    return patron.lift(rule="HKPL-15", ref=SMART_ID_REF, at=at)


def report_library_card_lost(
    creds: CredentialSet, patron: Patron, card_number: str, *, at: datetime, on: date
) -> CredentialChange:
    """HKPL-15: after the report the card no longer works and the account is suspended until
    a replacement is bound. Items borrowed on the card before ``at`` stay the borrower's
    responsibility; the report time is kept to tell them apart."""
    card = creds.card(card_number)
    if card.status != "active":
        return refuse(
            "lost card report",
            "HKPL-15",
            "card_not_active",
            f"the library card is not in use ({card.status})",
            creds,
            patron,
        )
    lost = card.model_copy(update={"status": "lost", "reported_lost_at": at})
    new_creds = creds.model_copy(update={"cards": creds.with_card(lost)})
    patron, suspended = patron.suspend(
        rule="HKPL-15",
        reason="the account is suspended because a library card has been reported lost, "
        "until a replacement card is issued",
        at=at,
        on=on,
        ref=card_number,
        code="card_reported_lost",
    )
    event = CredentialReportedLost(
        occurred_at=at, patron_id=patron.patron_id, credential="library_card", reference=card_number
    )
    return CredentialChange(
        decision=Decision.allow("lost card report"),
        credentials=new_creds,
        patron=patron,
        events=(event, *suspended),
    )


def replace_library_card(
    creds: CredentialSet,
    patron: Patron,
    policy: Policy,
    *,
    replaces: str,
    new_card_number: str,
    at: datetime,
    on: date,
) -> CredentialChange:
    """Issue a replacement library card for ``replaces`` (lost or worn out).

    HKPL-12: the fee is $33 for a borrower aged 18 or above (a guarantor's card included) and
    $17 under 18. HKPL-15: binding the replacement of a lost card lifts the suspension.
    """
    old = creds.card(replaces)
    if old.status not in ("active", "lost"):
        return refuse(
            "card replacement",
            "HKPL-12",
            "card_not_replaceable",
            f"the library card cannot be replaced ({old.status})",
            creds,
            patron,
        )
    fee = card_replacement_fee(policy, age=patron.age_on(on), guarantor_card=old.guarantor_card)
    updated = creds.model_copy(
        update={"cards": creds.with_card(old.model_copy(update={"status": "replaced"}))}
    )
    updated = issue_library_card(updated, new_card_number, on=on, guarantor_card=old.guarantor_card)
    patron, lifted = patron.lift(rule="HKPL-15", ref=replaces, at=at)
    event = CredentialBound(
        occurred_at=at,
        patron_id=patron.patron_id,
        credential="library_card",
        reference=new_card_number,
        replacement=True,
    )
    return CredentialChange(
        decision=Decision.allow("card replacement"),
        credentials=updated,
        patron=patron,
        charge=charge_entry(patron.patron_id, fee, at=at, on=on),
        events=(event, *lifted),
    )


def cancel_library_card(
    creds: CredentialSet,
    patron: Patron,
    card_number: str,
    *,
    at: datetime,
    on: date,
    outstanding: Outstanding | None = None,
) -> CredentialChange:
    """HKPL-17: the borrower cancels a library card. With no credential left, the account
    itself is cancelled, which is refused while items are on loan or charges unpaid."""
    card = creds.card(card_number)
    if card.status != "active":
        return refuse(
            "cancellation",
            "HKPL-17",
            "card_not_active",
            f"the library card is not in use ({card.status})",
            creds,
            patron,
        )
    cancelled = card.model_copy(update={"status": "cancelled"})
    new_creds = creds.model_copy(update={"cards": creds.with_card(cancelled)})
    change = withdraw(
        new_creds,
        patron,
        kind="library_card",
        reference=card_number,
        at=at,
        on=on,
        outstanding=outstanding,
    )
    # A refused cancellation leaves every card as it was.
    return change if change.decision.allowed else change.model_copy(update={"credentials": creds})


def borrowing_with_card(card: LibraryCard, *, action: str = "checkout") -> Decision:
    """Whether the card presented at the counter opens its account for borrowing: a card
    reported lost no longer works (HKPL-15), nor one replaced after its loss (HKPL-15) or
    cancelled (HKPL-17)."""
    if card.status == "lost":
        return refused(
            action,
            "HKPL-15",
            "card_reported_lost",
            "this library card has been reported lost and no longer works",
        )
    if card.status != "active":
        return refused(
            action,
            "HKPL-17" if card.status == "cancelled" else "HKPL-15",
            "card_not_active",
            f"this library card is no longer valid ({card.status})",
        )
    return Decision.allow(action)
