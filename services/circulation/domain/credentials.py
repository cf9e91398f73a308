"""Credentials of one account: its library cards, the smart ID card registered for library
use, and the sign-in secrets, as state; what the account may still owe when a credential is
given up.

HKPL-18: every credential opens the same account, so the account has one quota whatever card
is used. The operations are in :mod:`~services.circulation.domain.cards` (library cards),
:mod:`~services.circulation.domain.smart_id_use` (the smart ID card, HKPL-14/19) and
:mod:`~services.circulation.domain.sign_in` (HKPL-08).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from libs.common.money import Money
from libs.common.policy import Decision, Refusal
from services.circulation.domain.base import DomainModel
from services.circulation.domain.errors import CredentialNotFound
from services.circulation.domain.events import CredentialWithdrawn, DomainEvent
from services.circulation.domain.hkid import is_valid_hkid, normalize_hkid
from services.circulation.domain.ledger import LedgerEntry
from services.circulation.domain.patrons import Patron
from services.circulation.domain.smart_id import SmartIdBorrowingRead

CredentialKind = Literal["library_card", "smart_id"]
SignInCredential = Literal["library_card", "smart_id", "hkid_number"]
"""What a sign-in identifier named: a library card, the smart ID card, or the HKID number on
record from registration (HKPL-08)."""
SMART_ID_REF = "smart_id"


class LibraryCard(DomainModel):
    card_number: str = Field(pattern=r"^[0-9A-Z]{6,20}$")
    issued_on: date
    status: Literal["active", "lost", "replaced", "cancelled"] = "active"
    reported_lost_at: datetime | None = None
    guarantor_card: bool = Field(
        default=False, description="a Library Card for Guarantor's Use (HKPL-12 adult fee)"
    )


class SmartIdCard(DomainModel):
    """A smart ID card registered for library use. Only what HKPL-14 allows is kept."""

    hkid_number: str
    date_of_issue: date
    status: Literal["active", "lost", "discontinued"] = "active"
    reported_lost_at: datetime | None = None
    continue_with_replacement: bool = Field(
        default=False, description="the loss report asked to keep using a replacement (HKPL-19)"
    )


class CredentialSet(DomainModel):
    """Every credential of one account (HKPL-18) and the sign-in state."""

    patron_id: str
    cards: tuple[LibraryCard, ...] = ()
    smart_id: SmartIdCard | None = None
    hkid_number: str | None = Field(
        default=None,
        description="the HKID number given at registration, normalised (HKPL-08 sign-in; "
        "HKPL-14 allows the number to be kept)",
    )
    password_hash: str | None = None
    phone_digits_hash: str | None = None
    failed_sign_ins: int = Field(default=0, ge=0)
    locked_at: datetime | None = None

    def card(self, card_number: str) -> LibraryCard:
        for card in self.cards:
            if card.card_number == card_number:
                return card
        raise CredentialNotFound(f"no library card {card_number!r} on this account")

    def identifies(self, identifier: str) -> SignInCredential | None:
        """Which credential ``identifier`` (card number or HKID number) names, if any.

        HKPL-08: the number of a smart ID card registered for library use, or the number given
        at registration (which :func:`sign_in` refuses until a smart ID card is registered)."""
        ident = identifier.strip().upper()
        if any(card.card_number == ident for card in self.cards):
            return "library_card"
        if not is_valid_hkid(ident):
            return None
        hkid = normalize_hkid(ident)
        if self.smart_id is not None and hkid == self.smart_id.hkid_number:
            return "smart_id"
        if self.hkid_number is not None and hkid == self.hkid_number:
            return "hkid_number"
        return None

    def sign_in_identifiers(self) -> list[str]:
        """Every number that may be typed to sign in to the account (the throttle counts
        each): its card numbers and HKID number."""
        hkids = {self.hkid_number, self.smart_id.hkid_number if self.smart_id else None}
        return [card.card_number for card in self.cards] + sorted(h for h in hkids if h)

    def usable(self) -> bool:
        """Whether any credential still works (an active card or an active smart ID)."""
        return any(c.status == "active" for c in self.cards) or (
            self.smart_id is not None and self.smart_id.status == "active"
        )

    def accepts_borrowing_read(self, read: SmartIdBorrowingRead) -> bool:
        """HKPL-14/HKPL-18: a smart ID presented at the counter opens this account when its
        HKID number and date of issue match the registered, active card."""
        sid = self.smart_id
        return (
            sid is not None
            and sid.status == "active"
            and sid.hkid_number == read.hkid_number
            and sid.date_of_issue == read.date_of_issue
        )

    def with_card(self, card: LibraryCard) -> tuple[LibraryCard, ...]:
        return tuple(card if c.card_number == card.card_number else c for c in self.cards)


class CredentialChange(DomainModel):
    """The result of a credential operation: the decision, and the new state when allowed."""

    decision: Decision
    credentials: CredentialSet
    patron: Patron
    charge: LedgerEntry | None = None
    events: tuple[DomainEvent, ...] = ()


def refused(action: str, rule: str, code: str, reason: str) -> Decision:
    """The decision refusing ``action`` by one rule."""
    return Decision.of(action, [Refusal(rule=rule, code=code, action=action, reason=reason)])


def refuse(
    action: str, rule: str, code: str, reason: str, creds: CredentialSet, patron: Patron
) -> CredentialChange:
    """A refused credential operation: the state stays as it was."""
    return CredentialChange(
        decision=refused(action, rule, code, reason), credentials=creds, patron=patron
    )


class Outstanding(DomainModel):
    """What the account still owes the library: items on loan and unpaid charges."""

    items_on_loan: int = Field(default=0, ge=0)
    unpaid: Money | None = None
    #: MALA-14: why the patron's inter-library loans keep the account open, if they do
    ill_reason: str | None = None

    def reason(self) -> str | None:
        """HKPL-17, why the account cannot be given up yet, in the patron's words."""
        owed = []
        if self.items_on_loan:
            owed.append(
                f"{self.items_on_loan} item{'s' if self.items_on_loan != 1 else ''} on loan"
            )
        if self.unpaid is not None and self.unpaid.amount_minor > 0:
            owed.append(f"{self.unpaid} in unpaid charges")
        if not owed:
            return None
        return (
            f"the account still has {' and '.join(owed)}; the last card can be cancelled once "
            "every item is returned and every charge is paid"
        )


def withdraw(
    creds: CredentialSet,
    patron: Patron,
    *,
    kind: CredentialKind,
    reference: str,
    at: datetime,
    on: date,
    outstanding: Outstanding | None = None,
) -> CredentialChange:
    events: list[DomainEvent] = [
        CredentialWithdrawn(
            occurred_at=at, patron_id=patron.patron_id, credential=kind, reference=reference
        )
    ]
    if (
        not creds.usable()
        and not any(c.status == "lost" for c in creds.cards)
        and not (creds.smart_id is not None and creds.smart_id.status == "lost")
    ):
        # Giving up the account ends the borrower's means of returning and paying through
        # it; until then the library still needs a card to hold them to (HKPL-17).
        why = outstanding.reason() if outstanding is not None else None
        refusals = []
        if outstanding is not None and outstanding.ill_reason is not None:
            refusals.append(
                Refusal(
                    rule="MALA-14",
                    code="ill_not_cleared",
                    action="cancellation",
                    reason=outstanding.ill_reason,
                )
            )
        if why is not None:
            refusals.append(
                Refusal(
                    rule="HKPL-17",
                    code="account_has_outstanding",
                    action="cancellation",
                    reason=why,
                )
            )
        if refusals:
            return CredentialChange(
                decision=Decision.of("cancellation", refusals), credentials=creds, patron=patron
            )
        patron, cancelled = patron.cancel(at=at, on=on)
        events += cancelled
    return CredentialChange(
        decision=Decision.allow("cancellation"),
        credentials=creds,
        patron=patron,
        events=tuple(events),
    )
