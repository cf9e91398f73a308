"""The smart ID card in library use: registration (HKPL-14), loss report (HKPL-15), the
replacement that takes over without a new application (HKPL-19), and discontinuation
(HKPL-17). Only the named fields are ever read from the card, and nothing is written to it."""

from __future__ import annotations

from datetime import date, datetime

from libs.common.policy import Decision
from services.circulation.domain.credentials import (
    SMART_ID_REF,
    CredentialChange,
    CredentialSet,
    Outstanding,
    SmartIdCard,
    refuse,
    refused,
    withdraw,
)
from services.circulation.domain.events import (
    CredentialBound,
    CredentialReportedLost,
    CredentialWithdrawn,
    DomainEvent,
)
from services.circulation.domain.patrons import Patron
from services.circulation.domain.smart_id import SmartIdBorrowingRead, SmartIdRegistrationRead


def apply_smart_id(
    creds: CredentialSet,
    patron: Patron,
    read: SmartIdRegistrationRead,
    *,
    at: datetime,
    on: date,
) -> CredentialChange:
    """Register the patron's smart ID card for library use (HKPL-14): only the registration
    reading is accepted. A fresh application also ends a suspension for a lost smart ID card
    whose loss report did not ask to continue (HKPL-19)."""
    action = "smart ID registration"
    current = creds.smart_id
    if current is not None and current.status == "active":
        return refuse(
            action,
            "HKPL-14",
            "smart_id_already_registered",
            "a smart ID card is already registered for library use on this account",
            creds,
            patron,
        )
    if read.date_of_birth != patron.date_of_birth or (
        creds.hkid_number is not None and read.hkid_number != creds.hkid_number
    ):
        return refuse(
            action,
            "HKPL-14",
            "smart_id_mismatch",
            "the smart ID card does not belong to this borrower",
            creds,
            patron,
        )
    return _bind(creds, patron, read, action=action, replacement=False, at=at)


def _bind(
    creds: CredentialSet,
    patron: Patron,
    read: SmartIdBorrowingRead | SmartIdRegistrationRead,
    *,
    action: str,
    replacement: bool,
    at: datetime,
) -> CredentialChange:
    """The card read becomes the account's smart ID card for library use, which ends an
    HKPL-15 suspension for the smart ID card."""
    sid = SmartIdCard(hkid_number=read.hkid_number, date_of_issue=read.date_of_issue)
    new_creds = creds.model_copy(update={"smart_id": sid})
    patron, lifted = patron.lift(rule="HKPL-15", ref=SMART_ID_REF, at=at)
    event = CredentialBound(
        occurred_at=at,
        patron_id=patron.patron_id,
        credential="smart_id",
        reference=SMART_ID_REF,
        replacement=replacement,
    )
    return CredentialChange(
        decision=Decision.allow(action),
        credentials=new_creds,
        patron=patron,
        events=(event, *lifted),
    )


def report_smart_id_lost(
    creds: CredentialSet,
    patron: Patron,
    *,
    continue_with_replacement: bool,
    at: datetime,
    on: date,
) -> CredentialChange:
    """HKPL-15 for the smart ID card; the report says whether its replacement should take
    over library use without a new application (HKPL-19)."""
    sid = creds.smart_id
    if sid is None or sid.status != "active":
        return refuse(
            "lost card report",
            "HKPL-15",
            "card_not_active",
            "no smart ID card is registered for library use",
            creds,
            patron,
        )
    # HKPL-19: a report that asks to stop using the card for library services discontinues
    # it there and then (using it again takes a fresh application), so no replacement will
    # ever be bound to end an HKPL-15 suspension. Its library use is withdrawn instead.
    lost = sid.model_copy(
        update={
            "status": "lost" if continue_with_replacement else "discontinued",
            "reported_lost_at": at,
            "continue_with_replacement": continue_with_replacement,
        }
    )
    new_creds = creds.model_copy(update={"smart_id": lost})
    events: list[DomainEvent] = [
        CredentialReportedLost(
            occurred_at=at,
            patron_id=patron.patron_id,
            credential="smart_id",
            reference=SMART_ID_REF,
        )
    ]
    if not continue_with_replacement:
        events.append(
            CredentialWithdrawn(
                occurred_at=at,
                patron_id=patron.patron_id,
                credential="smart_id",
                reference=SMART_ID_REF,
            )
        )
    if continue_with_replacement or not new_creds.usable():
        # Suspended until the replacement is bound or, with nothing else left to borrow
        # with, until the patron applies afresh (HKPL-15).
        patron, suspended = patron.suspend(
            rule="HKPL-15",
            reason="the account is suspended because the smart ID card has been reported lost, "
            + (
                "until its replacement is registered"
                if continue_with_replacement
                else "until a smart ID card is registered again or a library card is issued"
            ),
            at=at,
            on=on,
            ref=SMART_ID_REF,
            code="card_reported_lost",
        )
        events += suspended
    return CredentialChange(
        decision=Decision.allow("lost card report"),
        credentials=new_creds,
        patron=patron,
        events=tuple(events),
    )


def bind_replacement_smart_id(
    creds: CredentialSet,
    patron: Patron,
    read: SmartIdBorrowingRead,
    *,
    at: datetime,
    on: date,
) -> CredentialChange:
    """HKPL-19: a lost smart ID card's replacement takes over library use without a new
    application, when the loss report said so; free of charge."""
    action = "smart ID replacement"
    sid = creds.smart_id
    lost_and_stopped = sid is not None and sid.reported_lost_at is not None
    if sid is None or (sid.status != "lost" and not lost_and_stopped):
        return refuse(
            action,
            "HKPL-19",
            "no_lost_smart_id",
            "no lost smart ID card is waiting for a replacement on this account",
            creds,
            patron,
        )
    if sid.status != "lost" or not sid.continue_with_replacement:
        return refuse(
            action,
            "HKPL-19",
            "fresh_application_needed",
            "the loss report asked to stop using the smart ID card for library services, so "
            "a fresh application is needed",
            creds,
            patron,
        )
    if read.hkid_number != sid.hkid_number or read.date_of_issue <= sid.date_of_issue:
        return refuse(
            action,
            "HKPL-19",
            "not_a_replacement",
            "this card is not a replacement of the lost smart ID card",
            creds,
            patron,
        )
    return _bind(creds, patron, read, action=action, replacement=True, at=at)


def discontinue_smart_id(
    creds: CredentialSet,
    patron: Patron,
    *,
    at: datetime,
    on: date,
    outstanding: Outstanding | None = None,
) -> CredentialChange:
    """HKPL-17: the borrower stops using the smart ID card for library services. With no
    credential left, the account itself is cancelled (refused while items are on loan or
    charges unpaid). A lost card waiting for its
    replacement may be discontinued too: no replacement is coming then, so its HKPL-15
    suspension ends."""
    sid = creds.smart_id
    if sid is None or sid.status not in ("active", "lost"):
        return refuse(
            "cancellation",
            "HKPL-17",
            "card_not_active",
            "no smart ID card is registered for library use",
            creds,
            patron,
        )
    discontinued = sid.model_copy(
        update={"status": "discontinued", "continue_with_replacement": False}
    )
    new_creds = creds.model_copy(update={"smart_id": discontinued})
    patron_before = patron
    patron, lifted = patron.lift(rule="HKPL-15", ref=SMART_ID_REF, at=at)
    change = withdraw(
        new_creds,
        patron,
        kind="smart_id",
        reference=SMART_ID_REF,
        at=at,
        on=on,
        outstanding=outstanding,
    )
    if not change.decision.allowed:
        return change.model_copy(update={"credentials": creds, "patron": patron_before})
    return change.model_copy(update={"events": (*change.events, *lifted)})


def borrowing_with_smart_id(
    creds: CredentialSet | None, read: SmartIdBorrowingRead, *, action: str = "checkout"
) -> Decision:
    """Whether a smart ID card presented at the counter opens an account for borrowing
    (HKPL-14: registered for library use, this very card by its date of issue). ``creds``
    are the credentials of the account its HKID number is registered to, if any. A card
    reported lost says so (HKPL-15)."""
    if creds is not None and creds.accepts_borrowing_read(read):
        return Decision.allow(action)
    sid = creds.smart_id if creds is not None else None
    lost = sid is not None and sid.status != "active" and sid.reported_lost_at is not None
    return refused(
        action,
        "HKPL-15" if lost else "HKPL-14",
        "smart_id_not_registered",
        "this smart ID card has been reported lost and no longer works"
        if lost
        else "this smart ID card is not registered for library use",
    )
