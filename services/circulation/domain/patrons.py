"""Patrons: who borrows, their standing, and registration (HKPL-16).

A patron is immutable; an operation returns the changed patron (and events) for the service
layer to store. Personal data stays in this service: other libraries only ever see a
pseudonymous reference and the category.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, computed_field

from libs.common.policy import AccountBlock, Decision, Refusal
from libs.common.policy.vocabulary import RuleId
from services.circulation.domain.base import DomainModel, new_id
from services.circulation.domain.events import (
    AccountCancelled,
    AccountSuspended,
    DomainEvent,
    PatronRegistered,
    SuspensionLifted,
)

Language = Literal["en", "zh-Hant"]
PatronStatus = Literal["active", "suspended", "cancelled"]
GuarantorRelationship = Literal["parent", "guardian", "adult_resident"]

ADULT_AGE = 18
"""HKPL-16: an applicant under this age needs a guarantor."""

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def age_on(date_of_birth: date, on: date) -> int:
    """Age in whole years on a day (someone born on 29 February turns a year older on
    1 March in a common year)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


class Address(DomainModel):
    # As many lines, and as long, as a postal address needs: the limits keep a registration
    # the size of a form, not of whatever a client sends.
    lines: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(
        min_length=1, max_length=4
    )
    district: str | None = Field(default=None, max_length=100)
    region: Literal["HK", "MO", "other"] = "HK"


class Guarantor(DomainModel):
    """HKPL-16: a parent, a guardian or another adult resident, liable for the applicant's
    charges."""

    name: str = Field(min_length=1, max_length=200)
    relationship: GuarantorRelationship
    date_of_birth: date
    phone: str | None = Field(default=None, max_length=40)
    patron_id: str | None = Field(
        default=None,
        max_length=64,
        description="the guarantor's own account in this library, when they are a patron",
    )


class Suspension(DomainModel):
    """Why the account is suspended, the rule that says so, and what lifts it.

    ``ref`` identifies the cause (e.g. the lost card's number), so that binding that card's
    replacement lifts exactly this suspension (HKPL-15).
    """

    rule: RuleId
    reason: str
    since: date
    ref: str | None = None
    code: str = "account_suspended"


class Patron(DomainModel):
    patron_id: str = Field(default_factory=new_id)
    library: str
    category: str
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str | None = Field(default=None, max_length=100)
    date_of_birth: date
    language: Language = "en"
    address: Address
    email: str = Field(pattern=_EMAIL, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    guarantor: Guarantor | None = None
    registered_on: date
    cancelled_on: date | None = None
    suspensions: tuple[Suspension, ...] = ()

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def status(self) -> PatronStatus:
        if self.cancelled_on is not None:
            return "cancelled"
        return "suspended" if self.suspensions else "active"

    def age_on(self, on: date) -> int:
        return age_on(self.date_of_birth, on)

    def is_minor(self, on: date) -> bool:
        return self.age_on(on) < ADULT_AGE

    def blocks(self) -> tuple[AccountBlock, ...]:
        """What stops this account borrowing, for the policy engine."""
        blocks = [AccountBlock(rule=s.rule, reason=s.reason, code=s.code) for s in self.suspensions]
        if self.cancelled_on is not None:
            blocks.append(
                AccountBlock(
                    rule="HKPL-17",
                    reason="the library card has been cancelled",
                    code="account_cancelled",
                )
            )
        return tuple(blocks)

    def suspend(
        self,
        *,
        rule: str,
        reason: str,
        at: datetime,
        on: date,
        ref: str | None = None,
        code: str = "account_suspended",
    ) -> tuple[Patron, list[DomainEvent]]:
        """Add a suspension; the same cause (rule and ref) is recorded once."""
        if any(s.rule == rule and s.ref == ref for s in self.suspensions):
            return self, []
        suspension = Suspension(rule=rule, reason=reason, since=on, ref=ref, code=code)
        patron = self.model_copy(update={"suspensions": (*self.suspensions, suspension)})
        event = AccountSuspended(occurred_at=at, patron_id=self.patron_id, rule=rule, reason=reason)
        return patron, [event]

    def lift(
        self, *, rule: str, at: datetime, ref: str | None = None
    ) -> tuple[Patron, list[DomainEvent]]:
        """Lift the suspension(s) with this rule (and ref, when given)."""
        kept = tuple(
            s for s in self.suspensions if not (s.rule == rule and (ref is None or s.ref == ref))
        )
        if len(kept) == len(self.suspensions):
            return self, []
        patron = self.model_copy(update={"suspensions": kept})
        return patron, [SuspensionLifted(occurred_at=at, patron_id=self.patron_id, rule=rule)]

    def cancel(self, *, at: datetime, on: date) -> tuple[Patron, list[DomainEvent]]:
        """The borrower gives up the account (HKPL-17)."""
        if self.cancelled_on is not None:
            return self, []
        patron = self.model_copy(update={"cancelled_on": on})
        return patron, [AccountCancelled(occurred_at=at, patron_id=self.patron_id)]


class PatronApplication(DomainModel):
    """What an applicant gives at registration."""

    library: str
    category: str
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str | None = Field(default=None, max_length=100)
    date_of_birth: date
    language: Language = "en"
    address: Address
    email: str = Field(pattern=_EMAIL, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    guarantor: Guarantor | None = None


class Registration(DomainModel):
    decision: Decision
    patron: Patron | None = None
    events: tuple[DomainEvent, ...] = ()


def registration_refusals(application: PatronApplication, on: date) -> list[Refusal]:
    """HKPL-16: an applicant under 18 needs a guarantor who is an adult."""
    if application.date_of_birth > on:
        raise ValueError("the date of birth is after the registration day")
    refusals = []
    if age_on(application.date_of_birth, on) < ADULT_AGE:
        guarantor = application.guarantor
        if guarantor is None:
            refusals.append(
                Refusal(
                    rule="HKPL-16",
                    code="guarantor_required",
                    action="registration",
                    reason=f"an applicant under {ADULT_AGE} needs a guarantor: a parent, a "
                    "guardian or another adult resident",
                )
            )
        elif age_on(guarantor.date_of_birth, on) < ADULT_AGE:
            refusals.append(
                Refusal(
                    rule="HKPL-16",
                    code="guarantor_not_adult",
                    action="registration",
                    reason=f"the guarantor must be aged {ADULT_AGE} or above",
                )
            )
    return refusals


GUARANTOR_RULE = "HKPL-16"


def _guarantor_refusal(code: str, reason: str, action: str) -> Refusal:
    return Refusal(rule=GUARANTOR_RULE, code=code, action=action, reason=reason)


def guarantor_refusals(
    candidate: Patron, *, minor_id: str | None, on: date, action: str = "registration"
) -> list[Refusal]:
    """HKPL-16: a registered patron may stand as guarantor only as an adult resident (aged
    18 or above, living in Hong Kong) whose account is not cancelled, and not for themself."""
    refusals = []
    if candidate.patron_id == minor_id:
        refusals.append(
            _guarantor_refusal(
                "guarantor_is_applicant", "a borrower cannot be their own guarantor", action
            )
        )
    if candidate.is_minor(on):
        refusals.append(
            _guarantor_refusal(
                "guarantor_not_adult", f"the guarantor must be aged {ADULT_AGE} or above", action
            )
        )
    if candidate.address.region != "HK":
        refusals.append(
            _guarantor_refusal(
                "guarantor_not_resident",
                "the guarantor must be a parent, a guardian or another adult resident of Hong Kong",
                action,
            )
        )
    if candidate.cancelled_on is not None:
        refusals.append(
            _guarantor_refusal(
                "guarantor_account_cancelled",
                "the guarantor's library account has been cancelled",
                action,
            )
        )
    return refusals


def registration_guarantor_decision(
    candidate: Patron, *, applicant_born: date, on: date
) -> Decision:
    """HKPL-16 at registration: only a borrower under 18 has a guarantor, and the
    registered patron named must be one who may stand (:func:`guarantor_refusals`)."""
    refusals = guarantor_refusals(candidate, minor_id=None, on=on)
    if age_on(applicant_born, on) >= ADULT_AGE:
        refusals.insert(
            0,
            _guarantor_refusal(
                "guarantor_not_needed",
                f"only a borrower under {ADULT_AGE} has a guarantor",
                "registration",
            ),
        )
    return Decision.of("registration", refusals)


def block_refusals(patron: Patron, action: str) -> list[Refusal]:
    """What refuses ``action`` on this account: its suspensions and a cancellation."""
    return [
        Refusal(rule=b.rule, code=b.code, action=action, reason=b.reason) for b in patron.blocks()
    ]


def linked_guarantor(candidate: Patron, relationship: GuarantorRelationship) -> Guarantor:
    """The guarantor record of a registered patron: name and date of birth from their
    account, so the two cannot drift apart."""
    return Guarantor(
        name=candidate.name_en,
        relationship=relationship,
        date_of_birth=candidate.date_of_birth,
        phone=candidate.phone,
        patron_id=candidate.patron_id,
    )


def link_guarantor(
    minor: Patron, candidate: Patron, relationship: GuarantorRelationship, *, on: date
) -> tuple[Decision, Patron]:
    """HKPL-16: link a borrower under 18 to the registered patron who stands as guarantor,
    liable for the borrower's charges; refused naming HKPL-16 when they cannot."""
    action = "guarantor link"
    refusals = []
    if not minor.is_minor(on):
        refusals.append(
            _guarantor_refusal(
                "guarantor_not_needed",
                f"only a borrower under {ADULT_AGE} has a guarantor",
                action,
            )
        )
    refusals += guarantor_refusals(candidate, minor_id=minor.patron_id, on=on, action=action)
    decision = Decision.of(action, refusals)
    if not decision.allowed:
        return decision, minor
    return decision, minor.model_copy(
        update={"guarantor": linked_guarantor(candidate, relationship)}
    )


def register_patron(
    application: PatronApplication, *, at: datetime, on: date, patron_id: str | None = None
) -> Registration:
    """Register an applicant, or refuse with the rules that stop it (HKPL-16)."""
    decision = Decision.of("registration", registration_refusals(application, on))
    if not decision.allowed:
        return Registration(decision=decision)
    # An id is given when the caller names one (an import, a test); else the model draws one.
    given: dict[str, Any] = {"patron_id": patron_id} if patron_id else {}
    patron = Patron(**application.model_dump(), registered_on=on, **given)
    event = PatronRegistered(occurred_at=at, patron_id=patron.patron_id, category=patron.category)
    return Registration(decision=decision, patron=patron, events=(event,))
