"""The account as the policy engine sees it, built from the circulation domain's state.

Every decision about a patron goes through :func:`account_facts`, so checkout, renewal and
the renewal dry run see exactly the same account: one account, one quota, whatever card
(HKPL-18).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from libs.common.policy import AccountFacts
from services.circulation.domain.holds import ReservationState
from services.circulation.domain.ledger import Ledger
from services.circulation.domain.loan import Loan
from services.circulation.domain.patrons import Patron


def account_facts(
    *,
    patron: Patron,
    loans: Sequence[Loan],
    ledger: Ledger | None = None,
    reservations: Mapping[str, ReservationState] | None = None,
    requests_holding_quota: Sequence[str] = (),
) -> AccountFacts:
    """Snapshot of the patron's account: blocks, unpaid charges, and every loan still out.

    ``reservations`` maps an item id to the reservation state of its title (HKPL-03);
    ``requests_holding_quota`` lists the lender of each consortium request in flight, which
    holds quota from the moment it is made (HKALL).
    """
    reservations = reservations or {}
    active = [loan for loan in loans if loan.active and loan.patron_id == patron.patron_id]
    return AccountFacts(
        patron_category=patron.category,
        blocks=patron.blocks(),
        outstanding_minor=ledger.outstanding_minor() if ledger else 0,
        oldest_unpaid_charge_on=ledger.oldest_unpaid_charge_on() if ledger else None,
        loans=tuple(
            loan.facts(
                reservation=reservations.get(loan.item_id),
                outstanding_charges_minor=(
                    ledger.outstanding_for_item(loan.item_id) if ledger else 0
                ),
            )
            for loan in active
        ),
        requests_holding_quota=tuple(requests_holding_quota),
    )
