"""Request bodies of the circulation API (what a client may send, with limits)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.circulation.domain.patrons import Address, GuarantorRelationship

CARD = r"^[0-9A-Za-z]{6,20}$"
LoanId = Annotated[str, Field(min_length=1, max_length=64)]
# A card reader's fields as it sent them (names and printed values), each bounded.
SmartIdData = dict[
    Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=200)] | None
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuarantorLinkBody(Body):
    """HKPL-16: the registered patron who stands as guarantor, by patron id or card number."""

    relationship: GuarantorRelationship
    patron_id: str | None = Field(default=None, min_length=1, max_length=64)
    card_number: str | None = Field(default=None, pattern=CARD)

    @model_validator(mode="after")
    def _one(self) -> GuarantorLinkBody:
        if (self.patron_id is None) == (self.card_number is None):
            raise ValueError("give either the guarantor's patron_id or card_number")
        return self


class GuarantorBody(Body):
    """HKPL-16: a guarantor as written on the application (name and date of birth), or a
    registered patron of the library (patron_id or card_number), whose details are theirs."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    relationship: GuarantorRelationship
    date_of_birth: date | None = None
    phone: str | None = Field(default=None, max_length=40)
    patron_id: str | None = Field(default=None, min_length=1, max_length=64)
    card_number: str | None = Field(default=None, pattern=CARD)

    @model_validator(mode="after")
    def _either(self) -> GuarantorBody:
        if self.patron_id is not None and self.card_number is not None:
            raise ValueError("give the guarantor's patron_id or card_number, not both")
        if not self.links and (self.name is None or self.date_of_birth is None):
            raise ValueError("give the guarantor's name and date_of_birth, or their patron_id")
        return self

    @property
    def links(self) -> bool:
        return self.patron_id is not None or self.card_number is not None


class Registration(Body):
    category: str = Field(min_length=1, max_length=32)
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str | None = Field(default=None, max_length=100)
    date_of_birth: date
    language: Literal["en", "zh-Hant"] = "en"
    address: Address
    email: str = Field(min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    guarantor: GuarantorBody | None = None
    card_number: str | None = Field(default=None, pattern=CARD)
    password: str | None = Field(default=None, min_length=6, max_length=128)
    hkid_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="HKPL-08: the applicant's HKID number, to sign in with (check digit verified)",
    )


class ContactChange(Body):
    address: Address | None = None
    email: str | None = Field(default=None, min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    language: Literal["en", "zh-Hant"] | None = None


class Password(Body):
    password: str = Field(min_length=6, max_length=128)


class NewCard(Body):
    card_number: str = Field(pattern=CARD)
    guarantor_card: bool = False


class Replacement(Body):
    new_card_number: str = Field(pattern=CARD)


class SmartIdReading(Body):
    # Kept as the reader sent it, so that a field HKPL-14 does not allow is refused by name
    # rather than dropped silently.
    reading: SmartIdData = Field(max_length=20)


class SmartIdLoss(Body):
    continue_with_replacement: bool = False


class Checkout(Body):
    card_number: str | None = Field(default=None, max_length=20)
    smart_id: SmartIdData | None = Field(default=None, max_length=20)
    item_id: str | None = Field(default=None, max_length=64)
    barcode: str | None = Field(default=None, max_length=64)
    service_point: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _one_of_each(self) -> Checkout:
        if (self.card_number is None) == (self.smart_id is None):
            raise ValueError("give either card_number or a smart_id reading")
        if (self.item_id is None) == (self.barcode is None):
            raise ValueError("give either item_id or barcode")
        return self


class Return(Body):
    item_id: str | None = Field(default=None, max_length=64)
    barcode: str | None = Field(default=None, max_length=64)
    service_point: str = Field(min_length=1, max_length=32)

    @model_validator(mode="after")
    def _one(self) -> Return:
        if (self.item_id is None) == (self.barcode is None):
            raise ValueError("give either item_id or barcode")
        return self


class RenewalRequest(Body):
    loan_ids: list[LoanId] = Field(min_length=1, max_length=50)


class RenewalPreview(Body):
    loan_ids: list[LoanId] = Field(default=[], max_length=50)


class LossCharge(Body):
    replacement_cost_minor: int | None = Field(default=None, ge=0, le=100_000_000)
    surcharge_percent: int | None = Field(default=None, ge=0, le=100)


class HoldRequest(Body):
    title_id: str = Field(min_length=1, max_length=64)
    pickup_location: str = Field(min_length=1, max_length=32)


class StaffHoldRequest(HoldRequest):
    patron_id: str = Field(min_length=1, max_length=64)


class Payment(Body):
    amount_minor: int = Field(gt=0, le=100_000_000)
    reason: str = Field(min_length=1, max_length=500)
    received_by: str | None = Field(default=None, max_length=120)
    applies_to: str | None = Field(default=None, max_length=64)
    paid_by_patron_id: str | None = Field(
        default=None,
        max_length=64,
        description="HKPL-16: the borrower's guarantor, when the guarantor pays",
    )


class Waiver(Body):
    amount_minor: int = Field(gt=0, le=100_000_000)
    reason: str = Field(min_length=1, max_length=500)
    granted_by: str = Field(min_length=1, max_length=120)
    applies_to: str | None = Field(default=None, max_length=64)


class SignIn(Body):
    identifier: str = Field(min_length=1, max_length=32, description="card number or HKID")
    secret: str = Field(min_length=1, max_length=128, description="password or phone digits")


class Leaving(Body):
    """MALA-14: why the patron leaves the library."""

    reason: Literal["graduation", "left"]
