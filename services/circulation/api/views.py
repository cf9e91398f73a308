"""What the circulation API answers, as documented in its OpenAPI description. Money is
integer minor units (cents) with its currency."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel


class Block(BaseModel):
    rule: str
    reason: str
    code: str


class PatronView(BaseModel):
    patron_id: str
    library: str
    category: str
    name_en: str
    name_zh: str | None
    date_of_birth: date
    language: str
    address: dict[str, Any]
    email: str
    phone: str | None
    guarantor: dict[str, Any] | None
    registered_on: date
    cancelled_on: date | None
    suspensions: list[dict[str, Any]]
    status: str
    blocks: list[Block]


class CardView(BaseModel):
    card_number: str
    status: str
    issued_on: date


class SmartIdView(BaseModel):
    status: str


class EntryView(BaseModel):
    entry_id: str
    kind: str
    amount_minor: int
    currency: str
    rule: str | None
    description: str | None = None


class RegistrationView(BaseModel):
    patron: PatronView
    cards: list[CardView]


class CardsView(BaseModel):
    patron_id: str
    cards: list[CardView]


class CredentialChangeView(BaseModel):
    patron: PatronView
    cards: list[CardView]
    smart_id: SmartIdView | None
    charge: EntryView | None


class IllRenewalView(BaseModel):
    """HKALL-13, MALA-05: pending (``answer_late`` once past the configured time: still not
    renewed), approved, or denied with the lender's rule and reason."""

    state: Literal["pending", "approved", "denied"]
    lender: str | None
    requested_at: datetime | None
    answer_late: bool
    rule: str | None
    reason: str | None


class IllLoanView(BaseModel):
    """Another library's item lent through the consortium."""

    transaction_id: str
    lender: str | None
    recalled_on: date | None
    renewal: IllRenewalView | None


class LoanView(BaseModel):
    loan_id: str
    item_id: str
    barcode: str | None
    title: str | None
    set_id: str | None
    checkout_date: date
    due_date: date
    days_overdue: int
    fine_so_far_minor: int
    renewals: int
    consecutive_renewals: int
    borrowed_with: str | None
    returned_at: datetime | None
    returned_to: str | None
    loss: str | None
    recalled_on: date | None = None
    fine_currency: str | None = None
    ill: IllLoanView | None = None


class LoansView(BaseModel):
    loans: list[LoanView]


class HoldView(BaseModel):
    hold_id: str
    title_id: str
    status: str
    pickup_location: str
    placed_at: datetime
    item_id: str | None
    pickup_by: date | None
    position: int | None = None


class HoldsView(BaseModel):
    holds: list[HoldView]


class LedgerEntryView(BaseModel):
    entry_id: str
    kind: str
    amount_minor: int
    currency: str
    at: datetime
    rule: str | None
    item_id: str | None
    loan_id: str | None
    description: str | None
    actor: str | None
    reason: str | None
    applies_to: str | None
    paid_by: str | None = None
    unpaid_minor: int | None


class LiableGuarantorView(BaseModel):
    """HKPL-16: the guarantor liable for this borrower's charges."""

    rule: str
    name: str
    relationship: str
    patron_id: str | None
    liable_minor: int


class GuaranteedChargeView(BaseModel):
    entry_id: str
    kind: str
    rule: str | None
    on: date
    description: str | None
    amount_minor: int
    unpaid_minor: int


class LiabilityView(BaseModel):
    """HKPL-16: the unpaid charges of one borrower the guarantor is liable for."""

    rule: str
    patron_id: str
    name_en: str
    relationship: str
    currency: str
    outstanding_minor: int
    charges: list[GuaranteedChargeView]


class LedgerView(BaseModel):
    currency: str
    outstanding_minor: int
    entries: list[LedgerEntryView]
    liable_guarantor: LiableGuarantorView | None = None
    liable_as_guarantor_minor: int = 0
    liable_as_guarantor: list[LiabilityView] = []


class ChargesSummary(BaseModel):
    currency: str
    outstanding_minor: int
    liable_as_guarantor_minor: int = 0


class QuotaView(BaseModel):
    rule: str
    items: int
    items_limit: int
    back_issues: int
    back_issues_limit: int | None


class AccountView(BaseModel):
    patron: PatronView
    cards: list[CardView]
    smart_id: SmartIdView | None
    hkid_on_record: bool = False
    sign_in_locked: bool
    loans: list[LoanView]
    holds: list[HoldView]
    charges: ChargesSummary
    liable_guarantor: LiableGuarantorView | None = None
    liable_as_guarantor: list[LiabilityView] = []
    quota: QuotaView


class CheckoutView(BaseModel):
    patron_id: str
    loans: list[LoanView]
    fees: list[EntryView]


class ReturnView(BaseModel):
    loan_id: str
    item_id: str
    patron_id: str
    returned_at: datetime
    returned_to: str | None
    fine: EntryView | None
    item_status: str
    hold_id: str | None


class OutcomeView(BaseModel):
    loan_id: str
    item_id: str
    set_id: str | None
    selected: bool
    renewable: bool
    due_date: date
    new_due_date: date | None
    overdue_fine_minor: int
    rules: list[str]
    messages: list[str]
    needs_lender_approval: bool = False


class PlanView(BaseModel):
    renewal_day: date
    outcomes: list[OutcomeView]


class RenewedView(BaseModel):
    loan_id: str
    item_id: str
    new_due_date: date


class PendingRenewalView(BaseModel):
    """HKALL-13, MALA-05: asked of the lending library; the due date stays until it answers."""

    loan_id: str
    item_id: str
    transaction_id: str
    lender: str
    due_date: date
    message: str


class RenewalView(BaseModel):
    """HKPL-06: the Transaction Reference Number and each item's new due date; renewals of
    other libraries' items pending their lender's approval (HKALL-13)."""

    transaction_ref: str | None
    renewed_at: datetime | None
    items: list[RenewedView]
    pending: list[PendingRenewalView] = []
    refused: list[OutcomeView]
    fines: list[EntryView]


class TransactionItemView(RenewedView):
    title: str | None


class TransactionView(BaseModel):
    transaction_ref: str
    renewed_at: datetime
    items: list[TransactionItemView]


class LossView(BaseModel):
    loan_id: str
    item_id: str
    charge: EntryView
    fine: EntryView | None


class SettlementView(BaseModel):
    entry_id: str
    kind: str
    amount_minor: int
    currency: str
    actor: str
    reason: str
    paid_by: str | None = None
    outstanding_minor: int


class SessionView(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    patron_id: str


class ExpiryView(BaseModel):
    expired: int


class OverdueNoticeView(BaseModel):
    kind: str  # "overdue" (a reminder) or "suspension"
    notice_id: str
    number: int
    loan_id: str
    patron_id: str
    item_id: str
    due_date: date
    days_overdue: int
    rule: str | None


class OverdueRunView(BaseModel):
    day: date
    overdue_loans: int
    reminders: int
    suspensions: int
    sent: list[OverdueNoticeView]
