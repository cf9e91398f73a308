"""The fines and fees ledger of one account: charges, payments and waivers.

Every amount is positive Money; the kind says whether it is owed (a charge) or settles what
is owed (a payment or a waiver). A payment or waiver records who took or granted it and why.
Credits settle the charge they name first, then the oldest charges first; this is how the
"oldest unpaid charge" of the overdue time limit (HKPL-03) is found.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from libs.common.money import Money
from libs.common.policy import Charge, Decision, FineAssessment, Policy, charges_decision
from libs.common.policy.vocabulary import RuleId
from services.circulation.domain.base import DomainModel, new_id

EntryKind = Literal[
    "overdue_fine",
    "lost_item",
    "damaged_item",
    "card_replacement",
    "reservation_fee",
    "payment",
    "waiver",
]
CHARGE_KINDS: frozenset[str] = frozenset(
    {"overdue_fine", "lost_item", "damaged_item", "card_replacement", "reservation_fee"}
)
CREDIT_KINDS: frozenset[str] = frozenset({"payment", "waiver"})


class LedgerEntry(DomainModel):
    entry_id: str = Field(default_factory=new_id)
    patron_id: str
    kind: EntryKind
    amount: Money
    at: datetime
    on: date = Field(description="the library day of the entry")
    rule: RuleId | None = None
    loan_id: str | None = None
    item_id: str | None = None
    description: str | None = Field(default=None, max_length=500)
    actor: str | None = Field(default=None, max_length=200, description="who took or granted it")
    reason: str | None = Field(default=None, max_length=500)
    applies_to: str | None = Field(default=None, description="the charge entry a credit settles")
    paid_by: str | None = Field(
        default=None,
        max_length=64,
        description="the patron who paid, when not the account holder (HKPL-16: a guarantor)",
    )

    @model_validator(mode="after")
    def _valid(self) -> LedgerEntry:
        if self.amount.amount_minor <= 0:
            raise ValueError("a ledger amount is positive; the kind says which way it goes")
        if self.kind in CREDIT_KINDS and not (self.actor and self.reason):
            raise ValueError(f"a {self.kind} records who made it and why")
        if self.kind in CHARGE_KINDS and self.applies_to is not None:
            raise ValueError("only a payment or a waiver settles another entry")
        if self.kind != "payment" and self.paid_by is not None:
            raise ValueError("only a payment is paid by someone")
        return self

    @property
    def is_charge(self) -> bool:
        return self.kind in CHARGE_KINDS


class Ledger(DomainModel):
    patron_id: str
    currency: str
    entries: tuple[LedgerEntry, ...] = ()

    def post(self, *entries: LedgerEntry) -> Ledger:
        """The ledger with ``entries`` added. A waiver may not exceed what it settles."""
        ledger = self
        for entry in entries:
            if entry.patron_id != self.patron_id:
                raise ValueError("the entry is for another patron")
            if entry.amount.currency != self.currency:
                raise ValueError(f"the ledger is in {self.currency}, not {entry.amount.currency}")
            if entry.applies_to is not None and entry.applies_to not in {
                e.entry_id for e in ledger.entries if e.is_charge
            }:
                raise ValueError(f"no charge {entry.applies_to!r} to settle")
            if entry.kind == "waiver":
                # A waiver never creates credit, and a targeted one never exceeds its charge
                # (credits not aimed at that charge are moved to the others).
                owed = ledger.outstanding_minor()
                if entry.applies_to is not None:
                    owed = min(owed, ledger._unsettled_by_targeted(entry.applies_to))
                if entry.amount.amount_minor > owed:
                    raise ValueError("a waiver cannot exceed what is owed")
            ledger = ledger.model_copy(update={"entries": (*ledger.entries, entry)})
        return ledger

    def _unsettled_by_targeted(self, charge_id: str) -> int:
        charge = next(e for e in self.entries if e.entry_id == charge_id)
        targeted = sum(
            e.amount.amount_minor
            for e in self.entries
            if not e.is_charge and e.applies_to == charge_id
        )
        return max(0, charge.amount.amount_minor - targeted)

    def charges(self) -> list[LedgerEntry]:
        return [e for e in self.entries if e.is_charge]

    def balance(self) -> Money:
        """Owed (positive) or in credit (negative)."""
        total = 0
        for entry in self.entries:
            total += entry.amount.amount_minor if entry.is_charge else -entry.amount.amount_minor
        return Money(amount_minor=total, currency=self.currency)

    def outstanding_minor(self) -> int:
        return max(0, self.balance().amount_minor)

    def remaining(self) -> dict[str, int]:
        """What is still unpaid of each charge, by entry id (settled charges included at 0)."""
        charges = sorted(self.charges(), key=lambda e: e.at)
        left = {c.entry_id: c.amount.amount_minor for c in charges}
        pool = 0
        for credit in (e for e in self.entries if not e.is_charge):
            amount = credit.amount.amount_minor
            if credit.applies_to in left:
                used = min(amount, left[credit.applies_to])
                left[credit.applies_to] -= used
                amount -= used
            pool += amount
        for charge in charges:
            used = min(pool, left[charge.entry_id])
            left[charge.entry_id] -= used
            pool -= used
        return left

    def outstanding_for_item(self, item_id: str) -> int:
        left = self.remaining()
        return sum(left[c.entry_id] for c in self.charges() if c.item_id == item_id)

    def oldest_unpaid_charge_on(self) -> date | None:
        left = self.remaining()
        days = [c.on for c in self.charges() if left[c.entry_id] > 0]
        return min(days) if days else None

    def charges_decision(self, policy: Policy, on: date, action: str = "checkout") -> Decision:
        """The outstanding-charges ceiling and the time limit on unpaid charges (HKPL-03,
        MALA-10), from the ledger alone."""
        return charges_decision(
            policy,
            outstanding_minor=self.outstanding_minor(),
            oldest_unpaid_charge_on=self.oldest_unpaid_charge_on(),
            on=on,
            action=action,
        )


def fine_entry(
    patron_id: str,
    fine: FineAssessment,
    *,
    at: datetime,
    on: date,
    loan_id: str | None = None,
    item_id: str | None = None,
) -> LedgerEntry | None:
    """The overdue fine as a ledger entry, or ``None`` when nothing is owed."""
    if fine.amount.amount_minor == 0:
        return None
    days = "day" if fine.days_overdue == 1 else "days"
    return LedgerEntry(
        patron_id=patron_id,
        kind="overdue_fine",
        amount=fine.amount,
        at=at,
        on=on,
        rule=fine.rule,
        loan_id=loan_id,
        item_id=item_id,
        description=f"{fine.days_overdue} {days} overdue at {fine.per_day} a day"
        + (f", at most {fine.cap}" if fine.cap is not None else ""),
    )


def charge_entry(
    patron_id: str,
    charge: Charge,
    *,
    at: datetime,
    on: date,
    loan_id: str | None = None,
    item_id: str | None = None,
) -> LedgerEntry:
    """A lost/damaged item charge, card replacement or reservation fee as a ledger entry."""
    return LedgerEntry(
        patron_id=patron_id,
        kind=charge.kind,
        amount=charge.total,
        at=at,
        on=on,
        rule=charge.rule,
        loan_id=loan_id,
        item_id=item_id,
        description="; ".join(f"{line.label}: {line.amount}" for line in charge.lines),
    )


def payment_entry(
    patron_id: str,
    amount: Money,
    *,
    actor: str,
    reason: str,
    at: datetime,
    on: date,
    applies_to: str | None = None,
    paid_by: str | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        patron_id=patron_id,
        kind="payment",
        amount=amount,
        at=at,
        on=on,
        actor=actor,
        reason=reason,
        applies_to=applies_to,
        paid_by=paid_by,
    )


def waiver_entry(
    patron_id: str,
    amount: Money,
    *,
    actor: str,
    reason: str,
    at: datetime,
    on: date,
    applies_to: str | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        patron_id=patron_id,
        kind="waiver",
        amount=amount,
        at=at,
        on=on,
        actor=actor,
        reason=reason,
        applies_to=applies_to,
    )
