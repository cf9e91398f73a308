"""What happened in circulation: the events each operation returns alongside the new state.

The service layer stores the new state and turns these events into outbox messages and
notices in the same transaction. Events carry ids and facts only, never personal data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    occurred_at: datetime


class PatronRegistered(DomainEvent):
    kind: Literal["patron.registered"] = "patron.registered"
    patron_id: str
    category: str


class AccountSuspended(DomainEvent):
    kind: Literal["account.suspended"] = "account.suspended"
    patron_id: str
    rule: str
    reason: str


class SuspensionLifted(DomainEvent):
    kind: Literal["account.suspension_lifted"] = "account.suspension_lifted"
    patron_id: str
    rule: str


class AccountCancelled(DomainEvent):
    kind: Literal["account.cancelled"] = "account.cancelled"
    patron_id: str


class CredentialReportedLost(DomainEvent):
    kind: Literal["credential.reported_lost"] = "credential.reported_lost"
    patron_id: str
    credential: Literal["library_card", "smart_id"]
    reference: str


class CredentialBound(DomainEvent):
    kind: Literal["credential.bound"] = "credential.bound"
    patron_id: str
    credential: Literal["library_card", "smart_id"]
    reference: str
    replacement: bool


class CredentialWithdrawn(DomainEvent):
    kind: Literal["credential.withdrawn"] = "credential.withdrawn"
    patron_id: str
    credential: Literal["library_card", "smart_id"]
    reference: str


class SignInLocked(DomainEvent):
    kind: Literal["credential.sign_in_locked"] = "credential.sign_in_locked"
    patron_id: str
    failures: int


class LoanCheckedOut(DomainEvent):
    kind: Literal["loan.checked_out"] = "loan.checked_out"
    loan_id: str
    patron_id: str
    item_id: str
    due_date: date


class LoanRenewed(DomainEvent):
    kind: Literal["loan.renewed"] = "loan.renewed"
    loan_id: str
    patron_id: str
    item_id: str
    new_due_date: date
    transaction_ref: str


class LoanRecalled(DomainEvent):
    kind: Literal["loan.recalled"] = "loan.recalled"
    loan_id: str
    patron_id: str
    item_id: str
    new_due_date: date


class LoanMarked(DomainEvent):
    kind: Literal["loan.marked"] = "loan.marked"
    loan_id: str
    patron_id: str
    item_id: str
    state: Literal["lost", "assumed_lost", "claimed_returned"]


class ItemReturned(DomainEvent):
    kind: Literal["loan.returned"] = "loan.returned"
    loan_id: str
    patron_id: str
    item_id: str
    days_overdue: int


class ChargePosted(DomainEvent):
    kind: Literal["ledger.charge_posted"] = "ledger.charge_posted"
    entry_id: str
    patron_id: str
    entry_kind: str
    amount_minor: int
    currency: str
    rule: str | None


class HoldPlaced(DomainEvent):
    kind: Literal["hold.placed"] = "hold.placed"
    hold_id: str
    patron_id: str
    title_id: str
    position: int


class HoldReady(DomainEvent):
    kind: Literal["hold.ready"] = "hold.ready"
    hold_id: str
    patron_id: str
    title_id: str
    item_id: str
    pickup_location: str
    pickup_by: date


class HoldCollected(DomainEvent):
    kind: Literal["hold.collected"] = "hold.collected"
    hold_id: str
    patron_id: str
    item_id: str


class HoldExpired(DomainEvent):
    kind: Literal["hold.expired"] = "hold.expired"
    hold_id: str
    patron_id: str
    item_id: str


class HoldCancelled(DomainEvent):
    kind: Literal["hold.cancelled"] = "hold.cancelled"
    hold_id: str
    patron_id: str
