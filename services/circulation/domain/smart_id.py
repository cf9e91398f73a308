"""Smart ID card readings: only what HKPL-14 allows is ever read from the card.

At registration: English name, Chinese name, HKID number, date of birth and date of issue. At
borrowing: HKID number and date of issue. Nothing is written to the card. A reading with any
other field is refused, and the models themselves forbid extra fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator

from services.circulation.domain.base import DomainModel
from services.circulation.domain.errors import SmartIdFieldRefused
from services.circulation.domain.hkid import normalize_hkid


class _SmartIdRead(DomainModel):
    hkid_number: str
    date_of_issue: date

    @field_validator("hkid_number")
    @classmethod
    def _hkid(cls, value: str) -> str:
        return normalize_hkid(value)


class SmartIdRegistrationRead(_SmartIdRead):
    """HKPL-14: at registration only English name, Chinese name, HKID number, date of birth
    and date of issue are read from the card; any other field is refused."""

    english_name: str = Field(min_length=1, max_length=200)
    chinese_name: str | None = Field(default=None, max_length=100)
    date_of_birth: date


class SmartIdBorrowingRead(_SmartIdRead):
    """HKPL-14: at borrowing only the HKID number and the date of issue are read."""


SmartIdPurpose = Literal["registration", "borrowing"]
_READ_MODELS: dict[str, type[SmartIdRegistrationRead] | type[SmartIdBorrowingRead]] = {
    "registration": SmartIdRegistrationRead,
    "borrowing": SmartIdBorrowingRead,
}


def read_smart_id(
    purpose: SmartIdPurpose, data: Mapping[str, Any]
) -> SmartIdRegistrationRead | SmartIdBorrowingRead:
    """Accept a card reader's output only if it holds no field beyond what HKPL-14 allows
    for ``purpose``; raises :class:`SmartIdFieldRefused` naming the extra fields."""
    model = _READ_MODELS[purpose]
    extra = [key for key in data if key not in model.model_fields]
    if extra:
        raise SmartIdFieldRefused(purpose, extra)
    return model.model_validate(dict(data))
