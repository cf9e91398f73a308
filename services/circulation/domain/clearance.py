"""Clearance before a patron leaves the home library (MALA-14), as pure code.

MALA-14: when a borrower graduates or leaves, the home library makes sure every item on loan
from a lender has been returned first. The home library holds the patron and answers to the
lender for the item and its charges (MALA-13), so it applies the same duty to every
inter-library loan, HKALL's as MALA's: the account is not closed while an inter-library
request of the patron is unfinished (the item is out, on its way, lost or claimed returned
and not yet settled by the lender) or a charge of one is unpaid. The library's own loans and
charges must be settled too, as for any account given up (HKPL-17).

A clearance lists what remains; :func:`close_account` refuses, naming the rule in plain
words, until nothing does. Nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal

from libs.common.money import Money
from libs.common.policy import Decision, Refusal
from services.circulation.domain.base import DomainModel
from services.circulation.domain.credentials import CredentialChange, CredentialSet
from services.circulation.domain.ill_requester import FINISHED, RequesterState
from services.circulation.domain.ledger import Ledger
from services.circulation.domain.loan import Loan
from services.circulation.domain.patrons import Patron

S = RequesterState
LeavingReason = Literal["graduation", "left"]
#: where an unfinished inter-library request stands, in the words staff read
_WHERE: dict[RequesterState, str] = {
    S.REQUESTED: "requested, no lender yet: cancel the request",
    S.ROUTING: "requested, no lender yet: cancel the request",
    S.EXPECT_TO_SUPPLY: "requested, a lender is asked: cancel the request",
    S.WILL_SUPPLY: "the lender will supply it: cancel the request",
    S.CANCEL_REQUESTED: "cancelling: waiting for the lender's answer",
    S.SHIPPED: "on its way from the lender",
    S.AWAITING_PICKUP: "waiting at the pickup point: to be sent back to the lender",
    S.CHECKED_OUT: "with the patron",
    S.RETURNED: "returned here: to be shipped back to the lender",
    S.NOT_PICKED_UP: "not picked up: to be shipped back to the lender",
    S.SHIPPED_RETURN: "on its way back: until the lender checks it in",
    S.LOST: "reported lost: the lender's charge is awaited",
    S.CLAIMED_RETURNED: "claimed returned: until the lender checks it in or charges it",
}


class IllItemOut(DomainModel):
    """An inter-library request of the patron that is not finished."""

    transaction_id: str
    title: str
    lender: str | None = None
    state: str
    due_date: date | None = None
    where: str


class ChargeOwed(DomainModel):
    """What is still unpaid of one charge on the account."""

    entry_id: str
    kind: str
    rule: str | None = None
    unpaid: Money
    loan_id: str | None = None
    item_id: str | None = None
    description: str | None = None
    transaction_id: str | None = None
    lender: str | None = None


class LoanOut(DomainModel):
    """A loan of the library's own item still out."""

    loan_id: str
    item_id: str
    due_date: date


class Clearance(DomainModel):
    """What stands between the patron and closing the account."""

    patron_id: str
    ill_items: tuple[IllItemOut, ...] = ()
    ill_charges: tuple[ChargeOwed, ...] = ()
    loans: tuple[LoanOut, ...] = ()
    charges: tuple[ChargeOwed, ...] = ()

    @property
    def clear(self) -> bool:
        return not (self.ill_items or self.ill_charges or self.loans or self.charges)

    def ill_unpaid(self) -> list[Money]:
        return _sums(self.ill_charges)

    def unpaid(self) -> list[Money]:
        return _sums(self.charges)

    def ill_reason(self) -> str | None:
        """MALA-14, why the account cannot be closed for its inter-library loans; None when
        nothing of them remains."""
        owed = []
        if self.ill_items:
            n = len(self.ill_items)
            listed = "; ".join(
                f"{i.title} from {i.lender or 'no lender yet'}: {i.where}" for i in self.ill_items
            )
            owed.append(f"{n} inter-library item{'s' if n != 1 else ''} still out ({listed})")
        unpaid = self.ill_unpaid()
        if unpaid:
            owed.append(f"{_amounts(unpaid)} of inter-library charges unpaid")
        if not owed:
            return None
        return (
            f"the patron has {' and '.join(owed)}; before a patron graduates or leaves, the "
            "home library makes sure every item borrowed from another library is back with "
            "its lender and every charge for it is paid, for every inter-library loan, "
            "HKALL's as MALA's"
        )

    def local_reason(self) -> str | None:
        """HKPL-17, why the account cannot be given up for the library's own loans and
        charges; None when nothing of them remains."""
        owed = []
        if self.loans:
            n = len(self.loans)
            owed.append(f"{n} item{'s' if n != 1 else ''} on loan")
        unpaid = self.unpaid()
        if unpaid:
            owed.append(f"{_amounts(unpaid)} in unpaid charges")
        if not owed:
            return None
        return (
            f"the account still has {' and '.join(owed)}; it can be closed once every item "
            "is returned and every charge is paid"
        )

    def refusals(self, action: str) -> list[Refusal]:
        found = []
        if (why := self.ill_reason()) is not None:
            found.append(Refusal(rule="MALA-14", code="ill_not_cleared", action=action, reason=why))
        if (why := self.local_reason()) is not None:
            found.append(
                Refusal(rule="HKPL-17", code="account_has_outstanding", action=action, reason=why)
            )
        return found


def _sums(charges: Iterable[ChargeOwed]) -> list[Money]:
    sums: dict[str, int] = {}
    for c in charges:
        sums[c.unpaid.currency] = sums.get(c.unpaid.currency, 0) + c.unpaid.amount_minor
    return [Money(amount_minor=v, currency=k) for k, v in sorted(sums.items()) if v > 0]


def _amounts(amounts: list[Money]) -> str:
    return " and ".join(str(m) for m in amounts)


def clearance(
    patron_id: str,
    borrowings: Iterable[Mapping[str, Any]],
    loans: Iterable[Loan],
    ledger: Ledger,
) -> Clearance:
    """The clearance of an account from its inter-library requests (``ill_borrowing`` rows:
    transaction_id, title, lender, state, due_date, loan_id, charge_entry_id), its loans
    still out and its ledger. A charge is an inter-library one when it is a lender's charge
    or was posted on the patron's loan of a lender's item (fines at the lender's terms)."""
    rows = list(borrowings)
    ill_loans = {r["loan_id"]: r for r in rows if r.get("loan_id")}
    lender_charges = {r["charge_entry_id"]: r for r in rows if r.get("charge_entry_id")}
    finished = {s.value for s in FINISHED}
    items = tuple(
        IllItemOut(
            transaction_id=r["transaction_id"],
            title=r["title"],
            lender=r.get("lender"),
            state=r["state"],
            due_date=r.get("due_date"),
            where=_WHERE.get(S(r["state"]), r["state"]),
        )
        for r in sorted(rows, key=lambda r: (r["created_at"], r["transaction_id"]))
        if r["state"] not in finished
    )
    left = ledger.remaining()
    ill_charges: list[ChargeOwed] = []
    charges: list[ChargeOwed] = []
    for entry in ledger.charges():
        unpaid = left.get(entry.entry_id, 0)
        if unpaid <= 0:
            continue
        row = lender_charges.get(entry.entry_id) or ill_loans.get(entry.loan_id or "")
        owed = ChargeOwed(
            entry_id=entry.entry_id,
            kind=entry.kind,
            rule=entry.rule,
            unpaid=Money(amount_minor=unpaid, currency=entry.amount.currency),
            loan_id=entry.loan_id,
            item_id=entry.item_id,
            description=entry.description,
            transaction_id=row["transaction_id"] if row else None,
            lender=row.get("lender") if row else None,
        )
        (ill_charges if row is not None else charges).append(owed)
    local = tuple(
        LoanOut(loan_id=loan.loan_id, item_id=loan.item_id, due_date=loan.due_date)
        for loan in loans
        if loan.active and not loan.ill and loan.loan_id not in ill_loans
    )
    return Clearance(
        patron_id=patron_id,
        ill_items=items,
        ill_charges=tuple(ill_charges),
        loans=local,
        charges=tuple(charges),
    )


ACTION = "account closing"


def close_account(
    creds: CredentialSet,
    patron: Patron,
    cleared: Clearance,
    *,
    reason: LeavingReason,
    at: datetime,
    on: date,
) -> CredentialChange:
    """The patron graduates or leaves: refused while anything remains (MALA-14 for the
    inter-library loans, HKPL-17 for the library's own); otherwise every card and the smart
    ID card stop working and the account is cancelled."""
    refusals = cleared.refusals(ACTION)
    if patron.cancelled_on is not None:
        refusals = [
            Refusal(
                rule="HKPL-17",
                code="account_cancelled",
                action=ACTION,
                reason="the account is closed already",
            )
        ]
    if refusals:
        return CredentialChange(
            decision=Decision.of(ACTION, refusals), credentials=creds, patron=patron
        )
    cards = tuple(
        c.model_copy(update={"status": "cancelled"}) if c.status == "active" else c
        for c in creds.cards
    )
    sid = creds.smart_id
    if sid is not None and sid.status in ("active", "lost"):
        sid = sid.model_copy(update={"status": "discontinued", "continue_with_replacement": False})
    closed, events = patron.cancel(at=at, on=on)
    return CredentialChange(
        decision=Decision.allow(f"{ACTION} ({reason})"),
        credentials=creds.model_copy(update={"cards": cards, "smart_id": sid}),
        patron=closed,
        events=tuple(events),
    )
