"""What the engine needs to know about an account, its loans and the items asked for.

These are plain snapshots: the circulation service builds them from its own state (patron,
loans, ledger, reservation queues) and hands them to the decision functions, which never read
anything else. Keeping them here, not in a service, lets every service ask the same questions.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from libs.common.policy.models import LenderTerms
from libs.common.policy.vocabulary import MaterialType, MinorAmount, RuleId, Section


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountBlock(_Facts):
    """Something that stops the account borrowing: a suspension or a cancellation.

    ``reason`` completes "…refused: …" for the patron, e.g. "the account is suspended because
    the library card has been reported lost" with rule HKPL-15.
    """

    rule: RuleId
    reason: str
    code: str = Field(default="account_blocked", pattern=r"^[a-z][a-z0-9_]*$")


class LoanFacts(_Facts):
    """One item on loan to the account."""

    loan_id: str
    item_id: str
    material_type: MaterialType = "book"
    section: Section = "adult"
    checkout_date: date
    due_date: date
    renewals: int = Field(default=0, ge=0)
    consecutive_renewals: int = Field(default=0, ge=0)
    recalled: bool = False
    set_id: str | None = None
    main_item_id: str | None = Field(
        default=None, description="set for accompanying material: the item it goes with"
    )
    ill: bool = Field(default=False, description="borrowed from another library of the consortium")
    lender: str | None = None
    hold_by_other: bool = Field(default=False, description="another reader has reserved it")
    other_copy_available: bool = False
    recovered_after_loss: bool = Field(
        default=False, description="was lost, assumed lost or claimed returned (HKALL-17)"
    )
    outstanding_charges_minor: MinorAmount = Field(
        default=0, description="billed charges for this item not yet paid"
    )
    lender_terms: LenderTerms | None = Field(
        default=None, description="an ILL loan's fine terms, as its lender stated them"
    )
    fines_stop_on: date | None = Field(
        default=None, description="no fine runs after this day (claimed returned)"
    )

    @property
    def is_accompanying(self) -> bool:
        return self.main_item_id is not None


class ItemFacts(_Facts):
    """An item a patron asks to borrow (or to request through the consortium)."""

    item_id: str
    material_type: MaterialType = "book"
    section: Section = "adult"
    set_id: str | None = None
    main_item_id: str | None = None
    ill: bool = False
    lender: str | None = None

    @property
    def is_accompanying(self) -> bool:
        return self.main_item_id is not None


class AccountFacts(_Facts):
    """The account as the engine sees it: one account, one quota, whatever card (HKPL-18)."""

    patron_category: str | None = None
    blocks: tuple[AccountBlock, ...] = ()
    outstanding_minor: MinorAmount = Field(
        default=0, description="billed charges not yet paid, all items together"
    )
    oldest_unpaid_charge_on: date | None = None
    loans: tuple[LoanFacts, ...] = ()
    requests_holding_quota: tuple[str, ...] = Field(
        default=(), description="lender code of each consortium request that holds quota"
    )

    def loan(self, loan_id: str) -> LoanFacts:
        for loan in self.loans:
            if loan.loan_id == loan_id:
                return loan
        raise UnknownLoan(loan_id)


class UnknownLoan(KeyError):
    """A loan id that is not on the account."""

    def __str__(self) -> str:
        return f"no loan {self.args[0]!r} on this account"
