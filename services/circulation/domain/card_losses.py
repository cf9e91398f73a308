"""MALA-12: a lost institutional card, as pure code. A MALA borrower holds a card of each
library that lends to them; when one is lost it is reported to both libraries, the borrower
answers for its use until then, and a replacement costs MOP 120. Reported at the home
library: the fee is posted to the patron there, and the lender is told through the broker,
with a pseudonym for the patron and the requests it holds for them, never who they are."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from libs.common.contracts.ill import IllCardLost
from libs.common.contracts.ill import Money as ChargeAmount
from libs.common.policy import Policy, card_replacement_fee
from services.circulation.domain.ill_requester import FINISHED
from services.circulation.domain.ledger import LedgerEntry, charge_entry
from services.circulation.domain.patrons import Patron

RULE = "MALA-12"


class NotReportable(ValueError):
    """Why the card cannot be reported here, in plain words."""


@dataclass(frozen=True)
class CardLossReport:
    fee: LedgerEntry
    message: IllCardLost


def report_card_lost(
    patron: Patron,
    policy: Policy,
    *,
    home: str,
    lender: str,
    peers: Iterable[str],
    borrowings: Iterable[Mapping[str, Any]],
    report_id: str,
    patron_ref: str,
    at: datetime,
    on: date,
) -> CardLossReport:
    """The fee posted at home and the report for the lender. ``borrowings`` are the patron's
    inter-library requests (``ill_borrowing`` rows): those still open with ``lender`` go with
    the report. ``patron_ref`` is a fresh pseudonym (the broker derives the lender's)."""
    fees = policy.fees.card_replacement
    if fees is None or fees.rule != RULE:
        raise NotReportable(
            "institutional cards of other libraries are MALA's (MALA-12); this library's "
            "consortium issues none"
        )
    if lender == home or lender not in set(peers):
        raise NotReportable(
            f"MALA-12: {lender} is not another library of the consortium; a card is reported "
            "to the library that issued it"
        )
    if patron.cancelled_on is not None:
        raise NotReportable("the account is closed")
    charge = card_replacement_fee(policy, age=patron.age_on(on))
    fee = charge_entry(patron.patron_id, charge, at=at, on=on).model_copy(
        update={
            "description": f"institutional card of {lender} reported lost: replacement "
            f"{charge.total} ({RULE})"
        }
    )
    finished = {s.value for s in FINISHED}
    open_ = sorted(
        r["transaction_id"]
        for r in borrowings
        if r.get("lender") == lender and r["state"] not in finished
    )
    message = IllCardLost(
        report_id=report_id,
        requester=home,
        lender=lender,
        patron_ref=patron_ref,
        transactions=open_[:50],
        reported_at=at,
        fee=ChargeAmount(amount_minor=charge.total.amount_minor, currency=charge.total.currency),
    )
    return CardLossReport(fee=fee, message=message)
