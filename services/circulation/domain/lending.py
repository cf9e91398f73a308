"""Lending: checkout, return, renewal, recall, and loss, each deciding through the policy engine.

Every operation is pure: it takes the current state and the instant, asks the policy engine,
and returns the decision with the new state and events. Nothing is stored here; a refused
operation returns the state unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime

from pydantic import Field

from libs.common.money import Money
from libs.common.policy import (
    Decision,
    FineAssessment,
    Policy,
    RenewalPlan,
    checkout_decision,
    checkout_due_date,
    is_assumed_lost,
    loan_fine_at,
    lost_or_damaged_charge,
    plan_renewals,
    recall_decision,
    standing_refusals,
)
from services.circulation.domain.account import account_facts
from services.circulation.domain.base import DomainModel
from services.circulation.domain.errors import ItemNotAvailable, LoanNotActive
from services.circulation.domain.events import (
    ChargePosted,
    DomainEvent,
    ItemReturned,
    LoanCheckedOut,
    LoanMarked,
    LoanRecalled,
    LoanRenewed,
)
from services.circulation.domain.holds import Hold, HoldQueue, ReservationState
from services.circulation.domain.items import KEPT_ON_RETURN, Item
from services.circulation.domain.ledger import Ledger, LedgerEntry, charge_entry, fine_entry
from services.circulation.domain.loan import Loan, LoanLoss
from services.circulation.domain.patrons import Patron

# ---------------------------------------------------------------------------------------------
# Checkout


class CheckoutResult(DomainModel):
    decision: Decision
    loans: tuple[Loan, ...] = ()
    items: tuple[Item, ...] = ()
    events: tuple[DomainEvent, ...] = ()


def checkout(
    policy: Policy,
    *,
    patron: Patron,
    loans: Sequence[Loan],
    items: Sequence[Item],
    at: datetime,
    ledger: Ledger | None = None,
    borrowed_with: str | None = None,
    ill: bool = False,
    lender: str | None = None,
    held_for_patron: Collection[str] = (),
    requests_holding_quota: Sequence[str] = (),
) -> CheckoutResult:
    """Lend ``items`` (one item, or a whole set) to the patron at ``at``.

    The decision is :func:`~libs.common.policy.checkout_decision` on the patron's whole
    account (HKPL-09, HKPL-18, HKPL-03, HKALL-08/09, MALA-02...). Due dates follow HKPL-01
    (14 days after the day of borrowing) or the category's period (HKALL-08). An item must be
    on the shelf, or on the pickup shelf for this patron (``held_for_patron``); anything else
    raises :class:`ItemNotAvailable`.
    """
    for item in items:
        on_shelf = item.status == "AVAILABLE"
        kept_for_patron = item.status == "ON_HOLD_SHELF" and item.item_id in held_for_patron
        if not (on_shelf or kept_for_patron):
            raise ItemNotAvailable(f"item {item.item_id} is {item.status}")
    today = policy.local_date(at)
    account = account_facts(
        patron=patron, loans=loans, ledger=ledger, requests_holding_quota=requests_holding_quota
    )
    facts = [item.facts(ill=ill, lender=lender) for item in items]
    decision = checkout_decision(policy, account, facts, today, lender=lender)
    if not decision.allowed:
        return CheckoutResult(decision=decision)
    new_loans: list[Loan] = []
    events: list[DomainEvent] = []
    for item in items:
        loan = Loan(
            patron_id=patron.patron_id,
            item_id=item.item_id,
            owner_library=item.library,
            title_id=item.title_id,
            material_type=item.material_type,
            section=item.section,
            set_id=item.set_id,
            main_item_id=item.main_item_id,
            ill=ill,
            lender=lender,
            checked_out_at=at,
            checkout_date=today,
            due_date=checkout_due_date(
                policy,
                today,
                patron_category=patron.category,
                material_type=item.material_type,
            ),
            borrowed_with=borrowed_with,
        )
        new_loans.append(loan)
        events.append(
            LoanCheckedOut(
                occurred_at=at,
                loan_id=loan.loan_id,
                patron_id=patron.patron_id,
                item_id=item.item_id,
                due_date=loan.due_date,
            )
        )
    return CheckoutResult(
        decision=decision,
        loans=tuple(new_loans),
        items=tuple(item.with_status("ON_LOAN") for item in items),
        events=tuple(events),
    )


# ---------------------------------------------------------------------------------------------
# Return


class ReturnResult(DomainModel):
    loan: Loan
    item: Item = Field(description="the item with its status after the return")
    fine: FineAssessment
    fine_entry: LedgerEntry | None = None
    holds: tuple[Hold, ...] = Field(
        default=(), description="the reservation the copy now waits on the pickup shelf for"
    )
    events: tuple[DomainEvent, ...] = ()

    @property
    def hold(self) -> Hold | None:
        return self.holds[0] if self.holds else None


def return_loan(
    policy: Policy,
    loan: Loan,
    item: Item,
    *,
    at: datetime,
    service_point: str | None = None,
    queue: HoldQueue | None = None,
) -> ReturnResult:
    """Check the item in at ``at``, charge any overdue fine, and say where the copy goes.

    Fines: per day or part thereof, so any started day after the due date counts whole
    (HKPL-10 by section, HKALL-16 recalled rate and cap, MALA-08); no cap for an item that
    was lost, assumed lost or claimed returned and came back (HKALL-17).

    The copy: a withdrawn or damaged one is checked in but stays so (``KEPT_ON_RETURN``);
    otherwise it goes to the first reader waiting in ``queue`` (the reservation queue of its
    title), on the pickup shelf until the policy's deadline, or back on the shelf. A disc or
    map waits on the shelf with its set's main item: only the main item is assigned.
    """
    if not loan.active:
        raise LoanNotActive(f"loan {loan.loan_id} was already returned")
    if item.item_id != loan.item_id:
        raise ValueError("the item is not the one on this loan")
    today = policy.local_date(at)
    fine = loan_fine_at(policy, loan.facts(returning=True), at)
    entry = fine_entry(
        loan.patron_id, fine, at=at, on=today, loan_id=loan.loan_id, item_id=loan.item_id
    )
    returned = loan.model_copy(update={"returned_at": at, "returned_to": service_point})
    events: list[DomainEvent] = [
        ItemReturned(
            occurred_at=at,
            loan_id=loan.loan_id,
            patron_id=loan.patron_id,
            item_id=loan.item_id,
            days_overdue=fine.days_overdue,
        )
    ]
    if entry is not None:
        events.append(charge_posted(entry))
    holds: tuple[Hold, ...] = ()
    if item.status in KEPT_ON_RETURN:
        shelved = item
    elif queue is None or item.is_accompanying:
        shelved = item.with_status("AVAILABLE")
    else:
        change = queue.assign_returned_copy(policy, item.item_id, at=at, on=today)
        holds = change.holds
        events += change.events
        shelved = item.with_status("ON_HOLD_SHELF" if change.hold else "AVAILABLE")
    return ReturnResult(
        loan=returned,
        item=shelved,
        fine=fine,
        fine_entry=entry,
        holds=holds,
        events=tuple(events),
    )


def charge_posted(entry: LedgerEntry) -> ChargePosted:
    """The event that tells the account a ledger entry was posted."""
    return ChargePosted(
        occurred_at=entry.at,
        entry_id=entry.entry_id,
        patron_id=entry.patron_id,
        entry_kind=entry.kind,
        amount_minor=entry.amount.amount_minor,
        currency=entry.amount.currency,
        rule=entry.rule,
    )


# ---------------------------------------------------------------------------------------------
# Renewal

_REFERENCE = re.compile(r"^([A-Z0-9]+)-([0-9]{8})-([0-9]{6,})$")


def transaction_reference(library: str, on: date, sequence: int) -> str:
    """HKPL-06: the Transaction Reference Number of a successful renewal, e.g.
    ``HKPL-20260105-000042``: the library, the renewal day and the caller's sequence number
    (unique per library), so the same inputs always give the same number."""
    if sequence < 1:
        raise ValueError("the sequence number starts at 1")
    code = re.sub(r"[^A-Z0-9]", "", library.upper())
    if not code:
        raise ValueError("a library code is needed")
    return f"{code}-{on:%Y%m%d}-{sequence:06d}"


def parse_transaction_reference(reference: str) -> tuple[str, date, int]:
    """(library, renewal day, sequence) of a Transaction Reference Number (HKPL-06)."""
    match = _REFERENCE.match(reference.strip().upper())
    if match is None:
        raise ValueError(f"not a transaction reference number: {reference!r}")
    library, day, sequence = match.groups()
    return library, datetime.strptime(day, "%Y%m%d").date(), int(sequence)


class RenewedItem(DomainModel):
    loan_id: str
    item_id: str
    new_due_date: date


class RenewalTransaction(DomainModel):
    """What the patron can look up later by its Transaction Reference Number (HKPL-06)."""

    reference: str
    patron_id: str
    at: datetime
    items: tuple[RenewedItem, ...]


class RenewalResult(DomainModel):
    plan: RenewalPlan
    loans: tuple[Loan, ...]
    transaction: RenewalTransaction | None = None
    fines: tuple[LedgerEntry, ...] = ()
    awaiting_approval: tuple[str, ...] = Field(
        default=(), description="loan ids renewable once the lending library approves"
    )
    events: tuple[DomainEvent, ...] = ()


def preview_renewals(
    policy: Policy,
    *,
    patron: Patron,
    loans: Sequence[Loan],
    selected: Sequence[str],
    at: datetime,
    ledger: Ledger | None = None,
    reservations: Mapping[str, ReservationState] | None = None,
) -> RenewalPlan:
    """The dry run: per-loan decisions and new due dates if ``selected`` were renewed at
    ``at``; nothing changes. :func:`renew_loans` applies exactly this plan."""
    account = account_facts(patron=patron, loans=loans, ledger=ledger, reservations=reservations)
    on = policy.local_date(at)
    plan = plan_renewals(policy, account, selected, on)
    lent_here = {loan.loan_id for loan in loans if loan.ill}
    if not lent_here or not policy.renewals.needs_lender_approval:
        return plan
    # HKALL-13, MALA-05: another library's item is renewed by its lender, by the lender's own
    # policy (periods, its users' holds, its recalls: it answers with the rule). The home
    # library only asks for a patron in good standing (HKALL-18/19, MALA-10).
    standing = standing_refusals(policy, account, on, "renewal")
    outcomes = tuple(
        o.model_copy(
            update={
                "decision": Decision.of("renewal", standing),
                "new_due_date": None,
                "overdue_fine": None,
                "needs_lender_approval": not standing,
            }
        )
        if o.loan_id in lent_here
        else o
        for o in plan.outcomes
    )
    return plan.model_copy(update={"outcomes": outcomes})


def renew_loans(
    policy: Policy,
    *,
    patron: Patron,
    loans: Sequence[Loan],
    selected: Sequence[str],
    at: datetime,
    library: str,
    sequence: int,
    ledger: Ledger | None = None,
    reservations: Mapping[str, ReservationState] | None = None,
) -> RenewalResult:
    """Renew the selected loans (a set always together, HKPL-05) and return the renewed loans,
    the fines for late days and the Transaction Reference Number (HKPL-06).

    HKPL-02: 14 days from the renewal day; HKPL-03 conditions refuse; HKPL-04: an overdue
    item renews, and the overdue charge for its late days is posted now. Where the lender
    must approve (HKALL-13, MALA-05), allowed loans are only listed in ``awaiting_approval``:
    the home library asks the lender, and applies its answer when it comes.
    """
    plan = preview_renewals(
        policy,
        patron=patron,
        loans=loans,
        selected=selected,
        at=at,
        ledger=ledger,
        reservations=reservations,
    )
    today = plan.renewal_day
    by_id = {loan.loan_id: loan for loan in loans}
    apply = [o for o in plan.renewable if not o.needs_lender_approval]
    waiting = tuple(o.loan_id for o in plan.renewable if o not in apply)
    if not apply:
        return RenewalResult(plan=plan, loans=tuple(loans), awaiting_approval=waiting)

    reference = transaction_reference(library, today, sequence)
    updated: dict[str, Loan] = {}
    fines: list[LedgerEntry] = []
    events: list[DomainEvent] = []
    for outcome in apply:
        loan = by_id[outcome.loan_id]
        if outcome.new_due_date is None:
            raise RuntimeError("an allowed renewal outcome always carries its new due date")
        updated[loan.loan_id] = loan.model_copy(
            update={
                "due_date": outcome.new_due_date,
                "renewals": loan.renewals + 1,
                "consecutive_renewals": loan.consecutive_renewals + 1,
            }
        )
        if outcome.overdue_fine is not None:
            entry = fine_entry(
                loan.patron_id,
                outcome.overdue_fine,
                at=at,
                on=today,
                loan_id=loan.loan_id,
                item_id=loan.item_id,
            )
            if entry is not None:
                fines.append(entry)
                events.append(charge_posted(entry))
        events.append(
            LoanRenewed(
                occurred_at=at,
                loan_id=loan.loan_id,
                patron_id=loan.patron_id,
                item_id=loan.item_id,
                new_due_date=outcome.new_due_date,
                transaction_ref=reference,
            )
        )
    transaction = RenewalTransaction(
        reference=reference,
        patron_id=patron.patron_id,
        at=at,
        items=tuple(
            RenewedItem(
                loan_id=o.loan_id,
                item_id=o.item_id,
                new_due_date=o.new_due_date,
            )
            for o in apply
        ),
    )
    return RenewalResult(
        plan=plan,
        loans=tuple(updated.get(loan.loan_id, loan) for loan in loans),
        transaction=transaction,
        fines=tuple(fines),
        awaiting_approval=waiting,
        events=tuple(events),
    )


# ---------------------------------------------------------------------------------------------
# Recall, loss


class RecallResult(DomainModel):
    decision: Decision
    loan: Loan
    events: tuple[DomainEvent, ...] = ()


def recall_loan(
    policy: Policy, loan: Loan, *, requested_by_library: str, at: datetime
) -> RecallResult:
    """The owning library recalls a loan (HKALL-10, HKALL-11: at least 15 days of use kept;
    HKALL-14: a renewed loan too; MALA-06). The shortened due date is on the returned loan."""
    if not loan.active:
        raise LoanNotActive(f"loan {loan.loan_id} was already returned")
    today = policy.local_date(at)
    outcome = recall_decision(
        policy,
        loan.facts(),
        today,
        requested_by_library=requested_by_library,
        owner_library=loan.owner_library,
    )
    if not outcome.decision.allowed or outcome.new_due_date is None:
        return RecallResult(decision=outcome.decision, loan=loan)
    recalled = loan.model_copy(update={"recalled_on": today, "due_date": outcome.new_due_date})
    event = LoanRecalled(
        occurred_at=at,
        loan_id=loan.loan_id,
        patron_id=loan.patron_id,
        item_id=loan.item_id,
        new_due_date=outcome.new_due_date,
    )
    return RecallResult(decision=outcome.decision, loan=recalled, events=(event,))


def mark_loss(loan: Loan, state: LoanLoss, *, at: datetime, on: date) -> tuple[Loan, LoanMarked]:
    """Record a loan as lost, assumed lost or claimed returned; if the item comes back later,
    its fine has no cap where the policy says so (HKALL-17)."""
    if not loan.active:
        raise LoanNotActive(f"loan {loan.loan_id} was already returned")
    return _recorded_loss(loan, state, at=at, on=on)


def _recorded_loss(
    loan: Loan, state: LoanLoss, *, at: datetime, on: date
) -> tuple[Loan, LoanMarked]:
    marked = loan.model_copy(update={"loss": state, "loss_marked_on": on})
    event = LoanMarked(
        occurred_at=at,
        loan_id=loan.loan_id,
        patron_id=loan.patron_id,
        item_id=loan.item_id,
        state=state,
    )
    return marked, event


def mark_assumed_lost(
    policy: Policy, loans: Sequence[Loan], *, at: datetime
) -> tuple[list[Loan], list[DomainEvent]]:
    """The daily sweep: loans that the policy now treats as lost (HKALL-19: the maximum fine
    reached; MALA-09: overdue by more than one month). Returns only the loans it changed."""
    today = policy.local_date(at)
    changed: list[Loan] = []
    events: list[DomainEvent] = []
    for loan in loans:
        if loan.active and loan.loss is None and is_assumed_lost(policy, loan.facts(), today):
            marked, event = mark_loss(loan, "assumed_lost", at=at, on=today)
            changed.append(marked)
            events.append(event)
    return changed, events


def lost_item_entry(
    policy: Policy,
    loan: Loan,
    item: Item,
    *,
    at: datetime,
    damaged: bool = False,
    replacement_cost: Money | None = None,
    surcharge_percent: int | None = None,
    main_item: Item | None = None,
) -> LedgerEntry:
    """The charge for a lost or damaged item as a ledger entry.

    HKPL-13: the librarian's replacement cost (of the item or its whole set) plus a surcharge
    of up to 20%. MALA-11: the original price, 50% of the book's price for a disc that came
    with it, MOP 1 a page without a set price, plus MOP 100. HKALL-20: the lender's policy.
    """
    charge = lost_or_damaged_charge(
        policy,
        kind="damaged_item" if damaged else "lost_item",
        replacement_cost=replacement_cost,
        price=item.price,
        pages=item.pages,
        is_accompanying=item.is_accompanying,
        main_item_price=main_item.price if main_item else None,
        surcharge_percent=surcharge_percent,
    )
    return charge_entry(
        loan.patron_id,
        charge,
        at=at,
        on=policy.local_date(at),
        loan_id=loan.loan_id,
        item_id=loan.item_id,
    )


class LossResult(DomainModel):
    loan: Loan = Field(description="the loan, ended, and recorded as lost for a lost item")
    item: Item = Field(description="the item, now LOST or DAMAGED")
    charge: LedgerEntry
    fine_entry: LedgerEntry | None = None
    events: tuple[DomainEvent, ...] = ()


def settle_loss(
    policy: Policy, loan: Loan, item: Item, charge: LedgerEntry, *, at: datetime
) -> LossResult:
    """Settle a loan whose item was lost or damaged with its ``charge`` (of
    :func:`lost_item_entry`, HKPL-13, MALA-11, HKALL-20): the loan ends here with its overdue
    fine up to ``at``, capped as while it was out; a lost item's loan is recorded as lost (as
    :func:`mark_loss` does), and the item becomes LOST or DAMAGED."""
    if not loan.active:
        raise LoanNotActive(f"loan {loan.loan_id} was already returned")
    damaged = charge.kind == "damaged_item"
    returned = return_loan(policy, loan, item, at=at)
    ended = returned.loan
    events: list[DomainEvent] = list(returned.events)
    if not damaged:
        ended, marked = _recorded_loss(ended, "lost", at=at, on=policy.local_date(at))
        events.append(marked)
    events.append(charge_posted(charge))
    return LossResult(
        loan=ended,
        item=item.with_status("DAMAGED" if damaged else "LOST"),
        charge=charge,
        fine_entry=returned.fine_entry,
        events=tuple(events),
    )
