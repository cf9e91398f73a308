"""HKPL-16: the guarantor of a borrower under 18 is liable for the borrower's charges.

The charges stay on the borrower's own account (its HKPL-03 ceiling and time limit are the
borrower's); the guarantor's account shows them apart, as owed "as guarantor", so that they
do not count towards the guarantor's own outstanding total.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from libs.common.policy import Refusal
from services.circulation.domain.base import DomainModel
from services.circulation.domain.ledger import Ledger
from services.circulation.domain.patrons import ADULT_AGE, GUARANTOR_RULE, Patron, age_on


class GuaranteedCharge(DomainModel):
    entry_id: str
    kind: str
    rule: str | None
    on: date
    description: str | None
    amount_minor: int = Field(ge=0)
    unpaid_minor: int = Field(ge=0)


class Liability(DomainModel):
    """What a guarantor is liable for on one borrower's account."""

    rule: str = GUARANTOR_RULE
    patron_id: str
    name_en: str
    relationship: str
    currency: str
    outstanding_minor: int = Field(ge=0)
    charges: tuple[GuaranteedCharge, ...] = ()


def guarantor_liability(minor: Patron, ledger: Ledger) -> Liability | None:
    """The unpaid charges of ``minor`` the guarantor answers for: those incurred while the
    borrower was under 18 (charges after the 18th birthday are the borrower's alone).
    ``None`` when the borrower has no guarantor."""
    if minor.guarantor is None:
        return None
    left = ledger.remaining()
    charges = tuple(
        GuaranteedCharge(
            entry_id=c.entry_id,
            kind=c.kind,
            rule=c.rule,
            on=c.on,
            description=c.description,
            amount_minor=c.amount.amount_minor,
            unpaid_minor=left[c.entry_id],
        )
        for c in ledger.charges()
        if left[c.entry_id] > 0 and age_on(minor.date_of_birth, c.on) < ADULT_AGE
    )
    return Liability(
        patron_id=minor.patron_id,
        name_en=minor.name_en,
        relationship=minor.guarantor.relationship,
        currency=ledger.currency,
        outstanding_minor=sum(c.unpaid_minor for c in charges),
        charges=charges,
    )


def may_pay_for(minor: Patron, payer_id: str) -> bool:
    """HKPL-16: a payment of the borrower's charges is the borrower's own or made by the
    borrower's linked guarantor."""
    if payer_id == minor.patron_id:
        return True
    return minor.guarantor is not None and minor.guarantor.patron_id == payer_id


def payment_refusal(minor: Patron, payer_id: str) -> Refusal | None:
    """HKPL-16: why a payment recorded as made by ``payer_id`` is refused, if it is: only
    the borrower or the borrower's linked guarantor pays the borrower's charges."""
    if may_pay_for(minor, payer_id):
        return None
    return Refusal(
        rule=GUARANTOR_RULE,
        code="not_the_guarantor",
        action="payment",
        reason="a payment of this account's charges is recorded as the borrower's own "
        "or as made by the borrower's guarantor",
    )
