"""The loan: who has which item, since when, until when, and what became of it.

Only the state and how the policy engine sees it; the operations that change a loan
(checkout, return, renewal, recall, loss) are in :mod:`services.circulation.domain.lending`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from libs.common.policy import LenderTerms, LoanFacts
from libs.common.policy.vocabulary import MaterialType, Section
from services.circulation.domain.base import DomainModel, new_id
from services.circulation.domain.holds import ReservationState

LoanLoss = Literal["lost", "assumed_lost", "claimed_returned"]


class Loan(DomainModel):
    loan_id: str = Field(default_factory=new_id)
    patron_id: str
    item_id: str
    owner_library: str = Field(description="the library that owns the item")
    title_id: str | None = None
    material_type: MaterialType = "book"
    section: Section = "adult"
    set_id: str | None = None
    main_item_id: str | None = None
    ill: bool = Field(default=False, description="lent through the consortium")
    lender: str | None = None
    checked_out_at: datetime
    checkout_date: date
    due_date: date
    renewals: int = Field(default=0, ge=0)
    consecutive_renewals: int = Field(default=0, ge=0)
    recalled_on: date | None = None
    loss: LoanLoss | None = None
    loss_marked_on: date | None = None
    returned_at: datetime | None = None
    returned_to: str | None = Field(default=None, description="service point of the return")
    borrowed_with: str | None = Field(
        default=None,
        description="the credential used (HKPL-15: the borrower answers for items borrowed on "
        "a card until its loss is reported)",
    )
    lender_terms: LenderTerms | None = Field(
        default=None, description="an ILL loan's fine terms, as its lender stated them"
    )

    @property
    def active(self) -> bool:
        return self.returned_at is None

    @property
    def recalled(self) -> bool:
        return self.recalled_on is not None

    def facts(
        self,
        *,
        reservation: ReservationState | None = None,
        outstanding_charges_minor: int = 0,
        returning: bool = False,
    ) -> LoanFacts:
        """The loan as the policy engine sees it. ``returning``: the item is being checked
        in now, so a loan marked lost, assumed lost or claimed returned has been recovered
        (HKALL-17); while it is still out its fine keeps its cap (HKALL-19 stays in force)."""
        reservation = reservation or ReservationState()
        return LoanFacts(
            loan_id=self.loan_id,
            item_id=self.item_id,
            material_type=self.material_type,
            section=self.section,
            checkout_date=self.checkout_date,
            due_date=self.due_date,
            renewals=self.renewals,
            consecutive_renewals=self.consecutive_renewals,
            recalled=self.recalled,
            set_id=self.set_id,
            main_item_id=self.main_item_id,
            ill=self.ill,
            lender=self.lender,
            hold_by_other=reservation.hold_by_other,
            other_copy_available=reservation.other_copy_available,
            recovered_after_loss=returning and self.loss is not None,
            outstanding_charges_minor=outstanding_charges_minor,
            lender_terms=self.lender_terms,
            # A claim that the item was returned stops its fine until it is resolved.
            fines_stop_on=self.loss_marked_on if self.loss == "claimed_returned" else None,
        )
