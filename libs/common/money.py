"""Money as integer minor units (cents, avos) with a currency: never floats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CURRENCIES = {"HKD": 2, "MOP": 2}


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount_minor: int = Field(description="amount in the currency's minor unit (cents, avos)")
    currency: str = Field(pattern="^[A-Z]{3}$")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount_minor=0, currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount_minor=self.amount_minor + other.amount_minor, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount_minor=self.amount_minor - other.amount_minor, currency=self.currency)

    def times(self, n: int) -> Money:
        return Money(amount_minor=self.amount_minor * n, currency=self.currency)

    def min(self, other: Money) -> Money:
        self._same(other)
        return self if self.amount_minor <= other.amount_minor else other

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __str__(self) -> str:
        digits = CURRENCIES.get(self.currency, 2)
        sign = "-" if self.amount_minor < 0 else ""
        whole, part = divmod(abs(self.amount_minor), 10**digits)
        return f"{sign}{self.currency} {whole}.{part:0{digits}d}"
