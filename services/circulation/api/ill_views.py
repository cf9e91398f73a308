"""What the inter-library loan routes answer, as their OpenAPI document describes it: the
requester's view of a request (the patron's home library), its history, the dry run's
verdict, and the history entry both sides share."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from services.circulation.domain.ill_requester import RequesterState


class HistoryEntry(BaseModel):
    """One transition (or refused message) of the transaction on this library's side."""

    at: datetime
    from_state: str | None
    to_state: str | None
    event: str
    actor: str
    message_id: str | None
    refused: str | None


class IllChargeView(BaseModel):
    """The lender's charge for its lost or damaged item, posted to the patron's ledger."""

    amount_minor: int
    currency: str
    kind: str = Field(description="lost_item or damaged_item")
    rule: str | None
    entry_id: str | None = Field(description="the patron's ledger entry")
    paid_at: datetime | None = Field(description="paid in full (the lender was told)")


class IllRequestView(BaseModel):
    """A request of one of this library's patrons, as the home library keeps it."""

    transaction_id: str
    patron_id: str
    record_id: int
    title: str
    pickup_location: str
    needed_by: date | None
    state: RequesterState
    quota_held: bool = Field(description="HKALL-08/09, MALA-02: the request holds quota")
    lender: str | None
    due_date: date | None = Field(description="the lender's due date (its loan terms)")
    pickup_by: date | None = Field(description="HKALL-06: the last day to pick it up")
    item_id: str | None = Field(description="the lender's item as known here, once received")
    barcode: str | None = Field(description="the lender's barcode")
    loan_id: str | None = Field(description="the patron's loan, once picked up")
    renewal_state: str | None = Field(
        default=None, description="a renewal asked of the lender: pending, approved, denied"
    )
    recalled_on: date | None = Field(default=None, description="the lender recalled it")
    created_at: datetime
    updated_at: datetime
    loss_reported_on: date | None = Field(default=None, description="reported lost that day")
    charge: IllChargeView | None = Field(
        default=None, description="HKALL-20, MALA-11: the lender's charge, as posted here"
    )


class IllRequestDetail(IllRequestView):
    history: list[HistoryEntry]


class IllRequestList(BaseModel):
    requests: list[IllRequestView]


class IllRequestPage(IllRequestList):
    next_cursor: str | None


class IllRefusalView(BaseModel):
    rule: str
    code: str
    reason: str
    message: str


class IllDecisionView(BaseModel):
    """A dry run's answer: would the request be accepted, and every rule that refuses it."""

    accepted: bool
    lenders: list[str] = Field(description="the libraries that could supply it")
    rules: list[str]
    refusals: list[IllRefusalView]
