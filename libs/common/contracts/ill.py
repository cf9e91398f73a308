"""The inter-library loan messages (ILL.md), in ISO 18626's vocabulary, version 1.

Every ILL message goes library → broker → library. ``transaction_id`` (the envelope's
``correlation_id`` too) is the request's id for its whole life. ``seq`` counts 1, 2, 3… the
messages the envelope's sender has sent about the transaction *to this recipient*: a library
sends only to the broker, so its count is simply its own; the broker counts per recipient, since
each library sees only the messages meant for it. A receiver applies a transaction's messages
in ``seq`` order, parks one that comes early, and ignores a repeated ``seq``.

Privacy: nothing here names a patron. The lender gets a pseudonym that differs per lender,
the home library and the patron's category (what the loan terms depend on).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from libs.common.contracts.registry import contract

TRANSACTION_ID = Field(min_length=1, max_length=64, description="the ILL transaction's id")
SEQ = Field(ge=1, description="1, 2, 3… per sender, per transaction, per recipient")
LIBRARY = Field(min_length=1, max_length=40, description="a member library's code")

SupplierStatus = Literal[
    "ExpectToSupply",
    "WillSupply",
    "Unfilled",
    "Loaned",
    "Overdue",
    "Recalled",
    "LoanCompleted",
    "CompletedWithoutReturn",
    "Cancelled",
]
ReasonForMessage = Literal[
    "RequestResponse", "StatusChange", "RenewResponse", "CancelResponse", "Notification"
]
#: ``CheckedOut``, ``ClaimedReturned``, ``Damaged`` and ``ChargePaid`` are this federation's
#: additions to ISO 18626's actions (the checkout date starts a recall's minimum use period,
#: HKALL-11; ``ChargePaid``: the patron paid the lender's charge at home, MALA-13).
RequesterAction = Literal[
    "Received",
    "CheckedOut",
    "ShippedReturn",
    "Cancel",
    "Renew",
    "Lost",
    "ClaimedReturned",
    "Damaged",
    "ChargePaid",
    "StatusRequest",
    "Notification",
]
ErrorType = Literal[
    "UnsupportedActionType",
    "UnsupportedReasonForMessageType",
    "UnrecognisedDataElement",
    "UnrecognisedDataValue",
    "BadlyFormedMessage",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _with_example(example: dict[str, Any]) -> ConfigDict:
    """Strict, with the example the AsyncAPI document shows (and a test validates)."""
    return ConfigDict(extra="forbid", json_schema_extra=cast(JsonDict, {"examples": [example]}))


class IllPatron(_Strict):
    """Who asks, as far as a lender may know: never a name, HKID, e-mail, phone or address."""

    ref: str = Field(
        min_length=8, max_length=64, description="pseudonym, different for every lender"
    )
    category: str = Field(min_length=1, max_length=32, description="the loan terms depend on it")
    consortium: str = Field(min_length=1, max_length=16)


class IllRecord(_Strict):
    """The catalogue record asked for."""

    record_id: int = Field(ge=1, description="the union catalogue's record id")
    title: str = Field(min_length=1, max_length=500)
    authors: list[str] = []
    isbn: str | None = Field(default=None, max_length=20)


class Money(_Strict):
    amount_minor: int = Field(ge=0, description="integer minor units (cents, avos)")
    currency: str = Field(min_length=3, max_length=3)


class IllRefusal(_Strict):
    """Why a lender will not supply or renew: the rule that refused, in plain words."""

    rule: str | None = Field(default=None, max_length=16, description="rule ID, e.g. HKALL-02")
    reason: str = Field(min_length=1, max_length=500)


class LoanTerms(_Strict):
    """What the lender lends on, stated once at ``Loaned``: the home library computes due
    dates, fines and reminders of this loan from these terms, never from its own policy."""

    due_date: date
    loan_days: int = Field(ge=1, description="HKALL-08 by category; MALA-04: 14")
    max_total_loan_days: int | None = Field(default=None, description="HKALL-12: 90 or 45")
    renewals_left: int | None = Field(default=None, ge=0, description="MALA-05: one")
    renewal_needs_approval: bool = Field(description="HKALL-13, MALA-05: the lender decides")
    currency: str = Field(min_length=3, max_length=3)
    fine_per_day_minor: int = Field(ge=0, description="HKALL-16, MALA-08")
    fine_cap_minor: int | None = Field(default=None, ge=0)
    recalled_fine_per_day_minor: int | None = Field(default=None, ge=0, description="HKALL-16")
    recalled_fine_cap_minor: int | None = Field(default=None, ge=0)
    cap_waived_when_recovered: bool = Field(default=False, description="HKALL-17")
    recall_minimum_use_days: int | None = Field(default=None, ge=0, description="HKALL-11")
    lost_item_rule: str | None = Field(default=None, description="HKALL-20, MALA-11")
    fine_rule: str | None = Field(default=None, description="the rule of the normal fine")
    recalled_fine_rule: str | None = Field(default=None, description="of the recalled fine")
    recovered_rule: str | None = Field(default=None, description="HKALL-17: the waived cap")
    rules: list[str] = Field(default=[], description="the rule IDs these terms come from")


_REQUEST_EXAMPLE = {
    "transaction_id": "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11",
    "seq": 1,
    "requester": "eduhk",
    "pickup_location": "tko",
    "patron": {"ref": "p-4be1c07f3a2d9e58", "category": "student", "consortium": "HKALL"},
    "record": {
        "record_id": 42,
        "title": "香港歷史",
        "authors": ["劉智鵬"],
        "isbn": "9789620000001",
    },
    "service_type": "Loan",
    "needed_by": None,
    "supplier": "hku",
    "lender_items": ["hku-000-0"],
    "requested_at": "2026-12-01T02:30:00Z",
}


@contract("ill.request", 1, "command")
class IllRequest(_Strict):
    """A patron's home library asks for a catalogue record (ISO 18626 Request): requester →
    broker, then broker → one supplier at a time (with ``supplier`` and the supplier's copies
    of the record by the catalogue, ``lender_items``, filled in)."""

    model_config = _with_example(_REQUEST_EXAMPLE)

    transaction_id: str = TRANSACTION_ID
    seq: int = SEQ
    requester: str = LIBRARY
    pickup_location: str = Field(min_length=1, max_length=32, description="service point code")
    patron: IllPatron
    record: IllRecord
    service_type: Literal["Loan"] = "Loan"
    needed_by: date | None = None
    supplier: str | None = Field(default=None, max_length=40, description="set by the broker")
    lender_items: list[str] = Field(default=[], description="set by the broker")
    requested_at: datetime


_SUPPLIER_EXAMPLE = {
    "transaction_id": "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11",
    "seq": 2,
    "supplier": "hku",
    "status": "Loaned",
    "reason": "StatusChange",
    "answer": None,
    "item_id": "hku-000-0",
    "barcode": "HKU00000",
    "due_date": "2026-12-16",
    "loan_terms": {
        "due_date": "2026-12-16",
        "loan_days": 15,
        "max_total_loan_days": 45,
        "renewals_left": None,
        "renewal_needs_approval": True,
        "currency": "HKD",
        "fine_per_day_minor": 200,
        "fine_cap_minor": 3000,
        "recalled_fine_per_day_minor": 400,
        "recalled_fine_cap_minor": 6000,
        "cap_waived_when_recovered": True,
        "recall_minimum_use_days": 15,
        "lost_item_rule": "HKALL-20",
        "rules": ["HKALL-08", "HKALL-11", "HKALL-12", "HKALL-16", "HKALL-17", "HKALL-20"],
    },
    "refusal": None,
    "charge": None,
    "note": None,
    "occurred_at": "2026-12-01T06:00:00Z",
}


@contract("ill.supplier_message", 1, "command")
class IllSupplierMessage(_Strict):
    """What the lender says about the transaction (ISO 18626 SupplyingAgencyMessage): supplier
    → broker → requester."""

    model_config = _with_example(_SUPPLIER_EXAMPLE)

    transaction_id: str = TRANSACTION_ID
    seq: int = SEQ
    supplier: str = LIBRARY
    status: SupplierStatus
    reason: ReasonForMessage
    answer: Literal["yes", "no"] | None = Field(
        default=None, description="to a renew or cancel request"
    )
    item_id: str | None = Field(default=None, max_length=64)
    barcode: str | None = Field(default=None, max_length=64)
    due_date: date | None = None
    loan_terms: LoanTerms | None = Field(default=None, description="at Loaned")
    refusal: IllRefusal | None = Field(default=None, description="for Unfilled or a denial")
    charge: Money | None = Field(default=None, description="for a lost or damaged item")
    charge_kind: Literal["lost_item", "damaged_item"] | None = None
    charge_rule: str | None = Field(default=None, max_length=16, description="HKALL-20, MALA-11")
    note: str | None = Field(default=None, max_length=500)
    occurred_at: datetime


_REQUESTER_EXAMPLE = {
    "transaction_id": "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11",
    "seq": 3,
    "requester": "eduhk",
    "action": "Received",
    "occurred_at": "2026-12-02T03:00:00Z",
    "note": None,
}


@contract("ill.requester_message", 1, "command")
class IllRequesterMessage(_Strict):
    """What the patron's home library says (ISO 18626 RequestingAgencyMessage): requester →
    broker → supplier. The broker also sends a Cancel on its own to a lender that did not
    answer in time."""

    model_config = _with_example(_REQUESTER_EXAMPLE)

    transaction_id: str = TRANSACTION_ID
    seq: int = SEQ
    requester: str = LIBRARY
    action: RequesterAction
    occurred_at: datetime
    note: str | None = Field(default=None, max_length=500)


_ROUTING_EXAMPLE = {
    "transaction_id": "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11",
    "seq": 2,
    "lender": "hkbu",
    "previous": "hku",
    "previous_outcome": "declined",
    "end_of_rota": False,
    "reason": None,
}


@contract("ill.routing", 1, "command")
class IllRouting(_Strict):
    """The broker tells the requester where its request stands (ISO 18626 has no word; Index
    Data's broker sends ExpectToSupply): which lender was asked, why the previous one was
    skipped, or the end of the rota (nobody can supply: the request is Unfilled)."""

    model_config = _with_example(_ROUTING_EXAMPLE)

    transaction_id: str = TRANSACTION_ID
    seq: int = SEQ
    lender: str | None = Field(default=None, max_length=40, description="asked now")
    previous: str | None = Field(default=None, max_length=40)
    previous_outcome: Literal["declined", "no_answer"] | None = None
    end_of_rota: bool = False
    reason: str | None = Field(default=None, max_length=500)


_ERROR_EXAMPLE = {
    "transaction_id": "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11",
    "refused_message_id": "0b9d1c2e-7a51-4c4e-9f0e-1d2c3b4a5f60",
    "refused_type": "ill.requester_message",
    "error_type": "UnsupportedActionType",
    "reason": "ShippedReturn is not possible in state WillSupply",
    "state": "WillSupply",
}


@contract("ill.error", 1, "command")
class IllError(_Strict):
    """A message was refused and not applied (ISO 18626's ERROR confirmation): any side →
    broker, broker → the sender of the refused message. Not sequenced: it changes no state."""

    model_config = _with_example(_ERROR_EXAMPLE)

    transaction_id: str = TRANSACTION_ID
    refused_message_id: str = Field(min_length=1, max_length=64)
    refused_type: str = Field(min_length=1, max_length=80)
    error_type: ErrorType
    reason: str = Field(min_length=1, max_length=500)
    state: str | None = Field(default=None, max_length=40, description="the receiver's state")


_CARD_LOST_EXAMPLE = {
    "report_id": "9a3e4c1d-2b7f-4e8a-b6d5-3c2f1e0d9b8a",
    "requester": "um",
    "lender": "mpu",
    "patron_ref": "p-4f1c2e9a7b3d5e6f8a9b0c1d",
    "transactions": ["5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11"],
    "reported_at": "2026-12-04T02:30:00Z",
    "fee": {"amount_minor": 12000, "currency": "MOP"},
    "rule": "MALA-12",
}


@contract("ill.card_lost", 1, "command")
class IllCardLost(_Strict):
    """MALA-12: a patron's institutional card for a lending library was reported lost at the
    home library (the patron answers for its use until then; the replacement fee is posted at
    home): requester → broker → that lender. Not about one transaction and not sequenced: the
    envelope's ``correlation_id`` is ``report_id``.

    Privacy: the patron is named only by a pseudonym. The home library sends its own; the
    broker passes on the one derived for the lender, as it does for a request; ``transactions``
    are the patron's requests with that lender still open, so the lender can tie the report to
    the loans it holds."""

    model_config = _with_example(_CARD_LOST_EXAMPLE)

    report_id: str = Field(min_length=1, max_length=64, description="the home library's id")
    requester: str = LIBRARY
    lender: str = LIBRARY
    patron_ref: str = Field(min_length=1, max_length=64, description="a pseudonym, never a name")
    transactions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default=[], max_length=50
    )
    reported_at: datetime
    fee: Money | None = Field(default=None, description="the replacement fee posted at home")
    rule: Literal["MALA-12"] = "MALA-12"
