"""Credentials of one account: library cards, the smart ID card, and the sign-in secrets.

HKPL-18: every credential opens the same account, so the account has one quota whatever card
is used. HKPL-14: only the named fields are ever read from a smart ID card, and nothing is
written to it. HKPL-08: a patron signs in with a card number or HKID number and a password or
the last four digits of the registered phone number; both secrets are stored only as slow
(argon2) hashes, and repeated failures are slowed down (the throttle).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from libs.common.money import Money
from libs.common.policy import Decision, Policy, Refusal, card_replacement_fee
from services.circulation.domain.base import DomainModel
from services.circulation.domain.errors import CredentialNotFound
from services.circulation.domain.events import (
    CredentialBound,
    CredentialReportedLost,
    CredentialWithdrawn,
    DomainEvent,
)
from services.circulation.domain.hashing import SecretHasher, phone_last_four
from services.circulation.domain.hkid import (
    hkid_problem,
    is_valid_hkid,
    looks_like_hkid,
    normalize_hkid,
)
from services.circulation.domain.ledger import LedgerEntry, charge_entry
from services.circulation.domain.patrons import Patron
from services.circulation.domain.smart_id import SmartIdBorrowingRead, SmartIdRegistrationRead

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

    def _replace_card(self, card: LibraryCard) -> tuple[LibraryCard, ...]:
        return tuple(card if c.card_number == card.card_number else c for c in self.cards)


class CredentialChange(DomainModel):
    """The result of a credential operation: the decision, and the new state when allowed."""

    decision: Decision
    credentials: CredentialSet
    patron: Patron
    charge: LedgerEntry | None = None
    events: tuple[DomainEvent, ...] = ()


def _refuse(
    action: str, rule: str, code: str, reason: str, creds: CredentialSet, patron: Patron
) -> CredentialChange:
    refusal = Refusal(rule=rule, code=code, action=action, reason=reason)
    return CredentialChange(
        decision=Decision.of(action, [refusal]), credentials=creds, patron=patron
    )


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


def set_password(creds: CredentialSet, password: str, hasher: SecretHasher) -> CredentialSet:
    if not 6 <= len(password) <= 128:
        raise ValueError("a password has 6 to 128 characters")
    return creds.model_copy(update={"password_hash": hasher.hash(password)})


def set_phone_digits(creds: CredentialSet, phone: str, hasher: SecretHasher) -> CredentialSet:
    """Keep (the slow hash of) the last four digits of the registered telephone number."""
    return creds.model_copy(update={"phone_digits_hash": hasher.hash(phone_last_four(phone))})


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
        return _refuse(
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
        return _refuse(
            action,
            "HKPL-14",
            "smart_id_mismatch",
            "the smart ID card does not belong to this borrower",
            creds,
            patron,
        )
    sid = SmartIdCard(hkid_number=read.hkid_number, date_of_issue=read.date_of_issue)
    new_creds = creds.model_copy(update={"smart_id": sid})
    patron, lifted = patron.lift(rule="HKPL-15", ref=SMART_ID_REF, at=at)
    event = CredentialBound(
        occurred_at=at,
        patron_id=patron.patron_id,
        credential="smart_id",
        reference=SMART_ID_REF,
        replacement=False,
    )
    return CredentialChange(
        decision=Decision.allow(action),
        credentials=new_creds,
        patron=patron,
        events=(event, *lifted),
    )


class SignIn(DomainModel):
    decision: Decision
    credentials: CredentialSet
    credential: SignInCredential | None = None
    events: tuple[DomainEvent, ...] = ()

    @property
    def secret_failed(self) -> bool:
        """Whether the secret did not match (what the sign-in throttle counts)."""
        return any(r.code == "sign_in_failed" for r in self.decision.refusals)


NO_MATCH = "the card number or HKID number and the password or phone digits do not match"
SECRETS_CHECKED = 2
"""argon2 verifications per sign-in, whoever signs in: the password and the phone digits."""


def secret_matches(creds: CredentialSet | None, secret: str, hasher: SecretHasher) -> bool:
    """Whether ``secret`` is the account's password or phone digits. Always the same
    :data:`SECRETS_CHECKED` slow verifications, for an account with both secrets, one, none,
    or no account at all (``None``): the time it takes says nothing about the account."""
    password = hasher.verify(creds.password_hash if creds else None, secret)
    phone = hasher.verify(creds.phone_digits_hash if creds else None, secret)
    return password or phone


def _refusal(rule: str, code: str, reason: str) -> Decision:
    return Decision.of("sign-in", [Refusal(rule=rule, code=code, action="sign-in", reason=reason)])


def sign_in_unknown(
    identifier: str, secret: str, *, hasher: SecretHasher, policy: Policy
) -> Decision:
    """HKPL-08 for an identifier no account has: refused as a wrong secret is, after the same
    slow work. An HKID number with a wrong check digit is a typing mistake whoever types it,
    and is said so plainly (that says nothing about any account)."""
    secret_matches(None, secret, hasher)
    rule = policy.credentials.rule or "HKPL-08"
    problem = hkid_problem(identifier) if looks_like_hkid(identifier) else None
    if problem is not None:
        return _refusal(rule, "invalid_hkid", problem)
    return _refusal(rule, "sign_in_failed", NO_MATCH)


def sign_in(
    creds: CredentialSet,
    *,
    identifier: str,
    secret: str,
    hasher: SecretHasher,
    policy: Policy,
    at: datetime,
) -> SignIn:
    """HKPL-08: a card number, or an HKID number once the smart ID card is registered for
    library use, with the password or the last four digits of the registered phone.

    Repeated failures are slowed down outside, per client and per identifier (see
    :mod:`services.circulation.domain.throttle`), the same way whether the identifier names
    an account or not, so an account is never locked for good by whoever types its number.
    """
    rule = policy.credentials.rule or "HKPL-08"
    kind = creds.identifies(identifier)
    if kind is None:
        raise CredentialNotFound("the identifier does not name a credential of this account")
    # The secret is checked before anything about the card is said: whoever does not know
    # it learns nothing (that a card was reported lost, or that an HKID number is on record
    # without a smart ID card) beyond "no match", the answer an unknown identifier gets.
    if not secret_matches(creds, secret, hasher):
        return SignIn(decision=_refusal(rule, "sign_in_failed", NO_MATCH), credentials=creds)
    if kind == "library_card":
        card = creds.card(identifier.strip().upper())
        if card.status != "active":
            # As at checkout: a lost card and one replaced after its loss stop working by
            # HKPL-15, a cancelled one by HKPL-17.
            return SignIn(
                decision=_refusal(
                    "HKPL-17" if card.status == "cancelled" else "HKPL-15",
                    "card_not_active",
                    f"this library card is no longer valid ({card.status.replace('_', ' ')})",
                ),
                credentials=creds,
            )
    elif kind == "smart_id" and creds.smart_id is not None and creds.smart_id.status != "active":
        sid = creds.smart_id
        return SignIn(
            decision=_refusal(
                "HKPL-15" if sid.reported_lost_at is not None else "HKPL-14",
                "card_not_active",
                "this smart ID card is no longer registered for library use",
            ),
            credentials=creds,
        )
    elif kind == "hkid_number":
        # HKPL-08: an HKID number signs in only for a reader who has applied to use the smart
        # ID card for library services, as at borrowing (HKPL-14). Said only to whoever knows
        # the secret, so it tells a stranger nothing about which HKID numbers are on record.
        return SignIn(
            decision=_refusal(
                "HKPL-08",
                "smart_id_not_registered",
                "an HKID number signs in only once the smart ID card is registered for library "
                "use; sign in with the library card number, or apply at a library",
            ),
            credentials=creds,
        )
    return SignIn(
        decision=Decision.allow("sign-in"),
        credentials=creds.model_copy(update={"failed_sign_ins": 0, "locked_at": None}),
        credential=kind,
    )


def unlock_sign_in(creds: CredentialSet) -> CredentialSet:
    """Staff clear a lock-out an earlier release stored on the account (the throttle's waits
    are lifted beside it, see the handler)."""
    return creds.model_copy(update={"failed_sign_ins": 0, "locked_at": None})


def report_library_card_lost(
    creds: CredentialSet, patron: Patron, card_number: str, *, at: datetime, on: date
) -> CredentialChange:
    """HKPL-15: after the report the card no longer works and the account is suspended until
    a replacement is bound. Items borrowed on the card before ``at`` stay the borrower's
    responsibility; the report time is kept to tell them apart."""
    card = creds.card(card_number)
    if card.status != "active":
        return _refuse(
            "lost card report",
            "HKPL-15",
            "card_not_active",
            f"the library card is not in use ({card.status})",
            creds,
            patron,
        )
    lost = card.model_copy(update={"status": "lost", "reported_lost_at": at})
    new_creds = creds.model_copy(update={"cards": creds._replace_card(lost)})
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
        return _refuse(
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
        return _refuse(
            "card replacement",
            "HKPL-12",
            "card_not_replaceable",
            f"the library card cannot be replaced ({old.status})",
            creds,
            patron,
        )
    fee = card_replacement_fee(policy, age=patron.age_on(on), guarantor_card=old.guarantor_card)
    updated = creds.model_copy(
        update={"cards": creds._replace_card(old.model_copy(update={"status": "replaced"}))}
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
        return _refuse(
            action,
            "HKPL-19",
            "no_lost_smart_id",
            "no lost smart ID card is waiting for a replacement on this account",
            creds,
            patron,
        )
    if sid.status != "lost" or not sid.continue_with_replacement:
        return _refuse(
            action,
            "HKPL-19",
            "fresh_application_needed",
            "the loss report asked to stop using the smart ID card for library services, so "
            "a fresh application is needed",
            creds,
            patron,
        )
    if read.hkid_number != sid.hkid_number or read.date_of_issue <= sid.date_of_issue:
        return _refuse(
            action,
            "HKPL-19",
            "not_a_replacement",
            "this card is not a replacement of the lost smart ID card",
            creds,
            patron,
        )
    new_sid = SmartIdCard(hkid_number=read.hkid_number, date_of_issue=read.date_of_issue)
    new_creds = creds.model_copy(update={"smart_id": new_sid})
    patron, lifted = patron.lift(rule="HKPL-15", ref=SMART_ID_REF, at=at)
    event = CredentialBound(
        occurred_at=at,
        patron_id=patron.patron_id,
        credential="smart_id",
        reference=SMART_ID_REF,
        replacement=True,
    )
    return CredentialChange(
        decision=Decision.allow(action),
        credentials=new_creds,
        patron=patron,
        events=(event, *lifted),
    )


class Outstanding(DomainModel):
    """What the account still owes the library: items on loan and unpaid charges."""

    items_on_loan: int = Field(default=0, ge=0)
    unpaid: Money | None = None

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


def _withdraw(
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
        if why is not None:
            refusal = Refusal(
                rule="HKPL-17", code="account_has_outstanding", action="cancellation", reason=why
            )
            return CredentialChange(
                decision=Decision.of("cancellation", [refusal]), credentials=creds, patron=patron
            )
        patron, cancelled = patron.cancel(at=at, on=on)
        events += cancelled
    return CredentialChange(
        decision=Decision.allow("cancellation"),
        credentials=creds,
        patron=patron,
        events=tuple(events),
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
        return _refuse(
            "cancellation",
            "HKPL-17",
            "card_not_active",
            f"the library card is not in use ({card.status})",
            creds,
            patron,
        )
    cancelled = card.model_copy(update={"status": "cancelled"})
    new_creds = creds.model_copy(update={"cards": creds._replace_card(cancelled)})
    change = _withdraw(
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
        return _refuse(
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
    change = _withdraw(
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
