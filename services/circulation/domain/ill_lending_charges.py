"""What the lending library says about its copy after it was lent (ILL.md, "After the
checkout"), as pure code: the copy is overdue (its daily job), and the charge for a copy the
requester reported lost or damaged, priced by this library's own replacement policy
(HKALL-20: each lender's own; MALA-11: the original price, a disc that came with a book 50%
of the book's price, MOP 1 a page without a set price, plus the MOP 100 fee).

A copy the policy cannot price (no price, no pages) is charged by the library's staff, who
state the amount: :func:`lost_charge` then answers ``None`` and the lending stays Lost.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from libs.common.contracts.ill import Money
from libs.common.policy import Charge, ChargeError, ChargeLine, Policy, lost_or_damaged_charge
from services.circulation.domain.ill_supplier import STATUS_OF, LendingState, Reply
from services.circulation.domain.items import Item

S = LendingState
ChargeKind = Literal["lost_item", "damaged_item"]


def is_overdue(state: LendingState | str, due_date: date | None, today: date) -> bool:
    """A copy out on loan past its due date, not yet said to be overdue (the daily job tells
    the requester once: both sides agree on the loan's standing)."""
    return S(state) is S.LOANED and due_date is not None and today > due_date


def overdue_reply(due_date: date) -> Reply:
    return Reply("Overdue", "StatusChange", due_date=due_date)


def priced_charge(
    policy: Policy, item: Item, *, kind: ChargeKind, main_item: Item | None = None
) -> Charge | None:
    """The charge by this library's policy for its lost or damaged copy (HKALL-20,
    MALA-11), or ``None`` when the policy has nothing to price it by."""
    try:
        return lost_or_damaged_charge(
            policy,
            kind=kind,
            price=item.price,
            pages=item.pages,
            is_accompanying=item.is_accompanying,
            main_item_price=main_item.price if main_item else None,
        )
    except ChargeError:
        return None


def staff_charge(policy: Policy, amount_minor: int, *, kind: ChargeKind) -> Charge:
    """The amount this library's staff set for a copy its policy could not price, in its own
    currency, under its lost-item rule (HKALL-20, MALA-11)."""
    if amount_minor <= 0:
        raise ChargeError("a charge is a positive amount")
    line = ChargeLine(label="set by the lending library", amount=policy.money(amount_minor))
    return Charge(kind=kind, rule=policy.lost_damaged.rule, lines=(line,))


def charge_reply(state: LendingState | str, charge: Charge) -> Reply:
    """A lost copy's charge ends the loan without a return (``CompletedWithoutReturn``); a
    damaged copy's is a Notification, and the loan goes on as it is."""
    state = S(state)
    total = Money(amount_minor=charge.total.amount_minor, currency=charge.total.currency)
    if charge.kind == "lost_item":
        return Reply(
            "CompletedWithoutReturn",
            "StatusChange",
            charge=total,
            charge_kind="lost_item",
            charge_rule=charge.rule,
            note=_lines(charge),
        )
    return Reply(
        STATUS_OF[state],
        "Notification",
        charge=total,
        charge_kind="damaged_item",
        charge_rule=charge.rule,
        note=_lines(charge),
    )


def charge_values(charge: Charge) -> dict[str, object]:
    """What the lending keeps of the charge it sent."""
    return {
        "charge_minor": charge.total.amount_minor,
        "charge_currency": charge.total.currency,
        "charge_kind": charge.kind,
        "charge_rule": charge.rule,
    }


def _lines(charge: Charge) -> str:
    return "; ".join(f"{line.label}: {line.amount}" for line in charge.lines)[:500]
