"""Charges other than overdue fines: lost or damaged items, replacement cards, reservations.

Each function returns a :class:`Charge` with its lines (so the patron sees what the total is
made of) and the rule that sets it. Percentages are applied in integer minor units, rounding
half a cent up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from libs.common.money import Money
from libs.common.policy.decision import Refusal
from libs.common.policy.models import Policy
from libs.common.policy.vocabulary import RuleId

ChargeKind = Literal["lost_item", "damaged_item", "card_replacement", "reservation_fee"]


class ChargeError(ValueError):
    """A charge cannot be computed from what was given (no price, a surcharge above the
    policy's maximum, money in another currency)."""


class ChargeLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    amount: Money


class Charge(BaseModel):
    """An amount owed, with its parts and the rule that sets it."""

    model_config = ConfigDict(frozen=True)

    kind: ChargeKind
    rule: RuleId
    lines: tuple[ChargeLine, ...]

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def total(self) -> Money:
        first, *rest = [line.amount for line in self.lines]
        for amount in rest:
            first = first + amount
        return first


def percent_of(amount_minor: int, percent: int) -> int:
    """``percent`` % of an amount in minor units, half a unit rounded up."""
    return (amount_minor * percent * 2 + 100) // 200


def _in_currency(policy: Policy, money: Money | None, what: str) -> Money | None:
    if money is not None and money.currency != policy.currency:
        raise ChargeError(f"{what} is in {money.currency}; this policy charges {policy.currency}")
    if money is not None and money.amount_minor < 0:
        raise ChargeError(f"{what} cannot be negative")
    return money


def surcharge_refusal(policy: Policy, surcharge_percent: int | None, action: str) -> Refusal | None:
    """HKPL-13: a surcharge of up to the policy's percentage (20%), as the rule refusal a
    librarian is shown when asking for more; ``None`` when the surcharge is allowed."""
    terms = policy.lost_damaged
    if surcharge_percent is None or 0 <= surcharge_percent <= terms.surcharge_max_percent:
        return None
    return Refusal(
        rule=terms.rule,
        code="surcharge_too_high",
        action=action,
        reason=f"a surcharge of {surcharge_percent}% is more than the "
        f"{terms.surcharge_max_percent}% allowed on top of the replacement cost",
    )


def lost_or_damaged_charge(
    policy: Policy,
    *,
    kind: Literal["lost_item", "damaged_item"] = "lost_item",
    replacement_cost: Money | None = None,
    price: Money | None = None,
    pages: int | None = None,
    is_accompanying: bool = False,
    main_item_price: Money | None = None,
    surcharge_percent: int | None = None,
) -> Charge:
    """What a lost or damaged item costs.

    HKPL-13: what the librarian sets to replace the item or the whole set it belongs to
    (``replacement_cost``), plus a surcharge of up to 20% (``surcharge_percent``, default
    from the policy). MALA-11: the original price; a disc that came with a book 50% of the
    book's price; a book with no set price MOP 1 per page; plus an administrative fee of
    MOP 100. HKALL-20: the lending library's own replacement and penalty policy.
    """
    terms = policy.lost_damaged
    replacement_cost = _in_currency(policy, replacement_cost, "the replacement cost")
    price = _in_currency(policy, price, "the price")
    main_item_price = _in_currency(policy, main_item_price, "the main item's price")

    if replacement_cost is not None:
        base = ChargeLine(label="replacement cost", amount=replacement_cost)
    elif (
        is_accompanying
        and terms.accompanying_percent_of_main is not None
        and main_item_price is not None
    ):
        share = terms.accompanying_percent_of_main
        amount = percent_of(main_item_price.amount_minor, share)
        base = ChargeLine(
            label=f"{share}% of the original price of the book it came with",
            amount=policy.money(amount),
        )
    elif price is not None:
        base = ChargeLine(label="original price", amount=price)
    elif pages is not None and pages > 0 and terms.per_page_minor_without_price is not None:
        per_page = policy.money(terms.per_page_minor_without_price)
        base = ChargeLine(
            label=f"{pages} pages at {per_page} per page (no set price)",
            amount=per_page.times(pages),
        )
    else:
        raise ChargeError(
            "no basis for the charge: give the replacement cost set by the librarian, "
            "the item's price or its number of pages"
        )

    lines = [base]
    percent = terms.surcharge_default_percent if surcharge_percent is None else surcharge_percent
    if not 0 <= percent <= terms.surcharge_max_percent:
        raise ChargeError(
            f"a surcharge of {percent}% is not allowed: at most {terms.surcharge_max_percent}% "
            f"({terms.rule})"
        )
    if percent:
        surcharge = percent_of(base.amount.amount_minor, percent)
        lines.append(ChargeLine(label=f"surcharge {percent}%", amount=policy.money(surcharge)))
    if terms.admin_fee_minor:
        lines.append(
            ChargeLine(label="administrative fee", amount=policy.money(terms.admin_fee_minor))
        )
    return Charge(kind=kind, rule=terms.rule, lines=tuple(lines))


def card_replacement_fee(policy: Policy, *, age: int, guarantor_card: bool = False) -> Charge:
    """Fee for a replacement card.

    HKPL-12: $33 for a borrower aged 18 or above, the "Library Card for Guarantor's Use"
    included; $17 under 18. MALA-12: MOP 120 whatever the age.
    """
    terms = policy.fees.card_replacement
    if terms is None:
        raise ChargeError(f"policy {policy.name!r} sets no card replacement fee")
    if age < 0:
        raise ChargeError("age cannot be negative")
    adult = guarantor_card or age >= terms.adult_age
    amount = terms.adult_minor if adult else terms.under_age_minor
    label = (
        f"replacement card, borrower aged {terms.adult_age} or above"
        if adult
        else f"replacement card, borrower under {terms.adult_age}"
    )
    return Charge(
        kind="card_replacement",
        rule=terms.rule,
        lines=(ChargeLine(label=label, amount=policy.money(amount)),),
    )


def reservation_fee(policy: Policy) -> Charge | None:
    """Fee per reserved item, charged when the item is collected (HKPL-11: $3.3), or ``None``
    when the policy charges none."""
    fees = policy.fees
    if fees.reservation_minor is None or fees.reservation_rule is None:
        return None
    return Charge(
        kind="reservation_fee",
        rule=fees.reservation_rule,
        lines=(
            ChargeLine(
                label="reservation fee, charged at collection",
                amount=policy.money(fees.reservation_minor),
            ),
        ),
    )
