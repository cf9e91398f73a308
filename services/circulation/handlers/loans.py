"""Checkout (HKPL-09, HKPL-18), return at any branch with fines (HKPL-10), renewal
(HKPL-02..07) with its Transaction Reference Number, and lost or damaged items (HKPL-13)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.outcome import Outcome
from libs.common.policy import Decision, Refusal, RenewalPlan, surcharge_refusal
from services.circulation.adapters import (
    counters_repo,
    holds_repo,
    ill_borrowing_repo,
    items_repo,
    ledger_repo,
    loans_repo,
    patrons_repo,
)
from services.circulation.domain import cards, smart_id_use
from services.circulation.domain import lending as domain
from services.circulation.domain.errors import ItemNotAvailable, LoanNotActive, SmartIdFieldRefused
from services.circulation.domain.holds import Hold, ReservationState, reservation_state
from services.circulation.domain.items import LENDABLE
from services.circulation.domain.ledger import LedgerEntry
from services.circulation.domain.lending import RenewalTransaction
from services.circulation.domain.loan import Loan
from services.circulation.domain.notices import renewal_denial_id
from services.circulation.domain.patrons import Patron
from services.circulation.domain.smart_id import read_smart_id
from services.circulation.handlers import ill_borrowing
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused, ensure
from services.circulation.handlers.notices import (
    notify_events,
    notify_renewal,
    notify_renewal_denied,
)
from services.circulation.handlers.patrons import load_patron, smart_id_refused


async def identify_borrower(
    conn: AsyncConnection,
    lib: Library,
    *,
    card_number: str | None,
    smart_id: Mapping[str, Any] | None,
) -> tuple[str, str]:
    """The account a card opens, and which credential was used (HKPL-18: every card opens
    the same account). A lost card no longer works (HKPL-15); a smart ID card is read only
    for its HKID number and date of issue (HKPL-14)."""
    if card_number:
        number = card_number.strip().upper()
        owner = await patrons_repo.card_owner(conn, number)
        if owner is None:
            raise NotFound(f"no library card {number}")
        card = (await patrons_repo.get_credentials(conn, owner)).card(number)
        ensure(cards.borrowing_with_card(card))
        return owner, f"card:{number}"
    if smart_id is None:
        raise Invalid("a library card number or a smart ID card reading is needed")
    try:
        read = read_smart_id("borrowing", smart_id)
    except SmartIdFieldRefused as exc:
        raise smart_id_refused(exc) from exc
    owner = await patrons_repo.smart_id_owner(conn, read.hkid_number)
    creds = await patrons_repo.get_credentials(conn, owner) if owner else None
    ensure(smart_id_use.borrowing_with_smart_id(creds, read))
    if owner is None:  # pragma: no cover - credentials are only found for an owner
        raise NotFound("no account for this smart ID card")
    return owner, "smart_id"


async def _item_row(conn: AsyncConnection, *, item_id: str | None, barcode: str | None) -> Any:
    row = await items_repo.find_item_row(conn, item_id=item_id, barcode=barcode)
    if row is None:
        raise NotFound(f"no item {item_id or barcode}")
    return row


@dataclass
class CheckoutOutcome:
    patron: Patron
    loans: tuple[Loan, ...]
    fees: list[LedgerEntry]
    items: dict[str, Any]  # item id -> its row, for the answer


async def checkout(
    conn: AsyncConnection,
    lib: Library,
    *,
    card_number: str | None,
    smart_id: Mapping[str, Any] | None,
    item_id: str | None,
    barcode: str | None,
) -> CheckoutOutcome:
    """Lend an item (a set lends whole: the book with its disc or map) on the account's one
    quota (HKPL-09, HKPL-18). A copy kept on the pickup shelf for the patron is collected
    here, and its reservation fee charged (HKPL-11)."""
    patron_id, used = await identify_borrower(conn, lib, card_number=card_number, smart_id=smart_id)
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    row = await _item_row(conn, item_id=item_id, barcode=barcode)
    rows = await items_repo.set_rows(conn, row.set_id) if row.set_id else [row]
    items = sorted(
        (items_repo.item_of(r, lib.code, lib.policy.currency) for r in rows),
        key=lambda i: i.is_accompanying,
    )
    loans = await loans_repo.active_loans(conn, patron_id)
    ledger = await ledger_repo.ledger(conn, patron_id, lib.policy.currency)
    held = await holds_repo.ready_hold_titles_for(conn, patron_id)
    result = domain.checkout(
        lib.policy,
        patron=patron,
        loans=loans,
        items=items,
        at=lib.now(),
        ledger=ledger,
        borrowed_with=used,
        held_for_patron=set(held),
        # HKALL-09: the patron's consortium requests in flight take room in the home quota
        # (the policy keeps them out of the consortium's own limit for a home item).
        requests_holding_quota=await ill_borrowing_repo.requests_holding_quota(conn, patron_id),
    )
    ensure(result.decision)
    for loan in result.loans:
        await loans_repo.save_loan(conn, loan)
    for lent in result.items:
        changed = await items_repo.set_status(
            conn, lib.code, lent.item_id, lent.status, lib.clock, expected=LENDABLE
        )
        if changed is None:  # lent at another counter in the meantime
            raise ItemNotAvailable(f"item {lent.item_id} is no longer available")
    fees: list[LedgerEntry] = []
    for item in items:
        if item.item_id in held:
            queue = await holds_repo.queue(conn, item.title_id)
            change = queue.collect(
                lib.policy, patron_id, item.item_id, at=lib.now(), on=lib.today()
            )
            await holds_repo.save_holds(conn, change.holds)
            if change.fee is not None:
                await ledger_repo.add_entries(conn, change.fee)
                fees.append(change.fee)
    return CheckoutOutcome(
        patron=patron, loans=result.loans, fees=fees, items={r.id: r for r in rows}
    )


async def _save_active(conn: AsyncConnection, loan: Loan, *, renewing: bool = False) -> None:
    """Write a loan read while out; another transaction that ended it first wins, and this
    one is refused (rolled back, so no second fine or charge is posted)."""
    if not await loans_repo.save_active_loan(conn, loan):
        what = "renewed" if renewing else "returned"
        raise LoanNotActive(f"loan {loan.loan_id} was returned meanwhile and cannot be {what}")


@dataclass
class ReturnOutcome:
    loan: Loan
    fine: LedgerEntry | None
    hold: Hold | None
    item_status: str


async def return_item(
    conn: AsyncConnection,
    lib: Library,
    *,
    item_id: str | None,
    barcode: str | None,
    service_point: str,
) -> ReturnOutcome:
    """Check an item in at any branch (HKPL-18), charge its overdue fine (HKPL-10), and give
    the copy to the next reservation of its title."""
    if service_point not in lib.service_points:
        raise Invalid(f"{service_point!r} is not a service point of this library")
    row = await _item_row(conn, item_id=item_id, barcode=barcode)
    loan = await loans_repo.active_loan_of_item(conn, row.id)
    if loan is None:
        raise LoanNotActive(f"item {row.barcode} is not on loan")
    patron = await load_patron(conn, lib, loan.patron_id, for_update=True)
    # Read again under the account's lock: a return, renewal or loss report of this loan
    # that held the lock first has changed it (the first read only named the account).
    loan = await loans_repo.active_loan_of_item(conn, row.id, for_update=True)
    if loan is None:
        raise LoanNotActive(f"item {row.barcode} is not on loan")
    row = await _item_row(conn, item_id=row.id, barcode=None)
    item = items_repo.item_of(row, lib.code, lib.policy.currency)
    queue = await holds_repo.queue(conn, item.title_id)
    result = domain.return_loan(
        lib.policy, loan, item, at=lib.now(), service_point=service_point, queue=queue
    )
    await _save_active(conn, result.loan)
    await ledger_repo.add_entries(conn, result.fine_entry)
    await holds_repo.save_holds(conn, result.holds)
    if loan.ill:
        # HKALL-07: another library's item, returned at any of our service points, waits
        # to be shipped back to its lender (never to the shelf or a local reservation).
        await ill_borrowing.returned(conn, lib, result.loan, service_point)
    elif result.item.status != item.status:
        await items_repo.set_status(conn, lib.code, item.item_id, result.item.status, lib.clock)
    patrons = {patron.patron_id: patron}
    for hold in result.holds:
        if hold.patron_id not in patrons:
            patrons[hold.patron_id] = await load_patron(conn, lib, hold.patron_id)
    await notify_events(conn, lib, patrons, result.events, titles={item.item_id: item.title or ""})
    return ReturnOutcome(
        loan=result.loan,
        fine=result.fine_entry,
        hold=result.hold,
        item_status=ill_borrowing.RETURNED_STATUS if loan.ill else result.item.status,
    )


async def _reservations(
    conn: AsyncConnection, loans: Sequence[Loan]
) -> dict[str, ReservationState]:
    """HKPL-03: per loan, whether another reader waits for its title and whether another copy
    is on the shelf."""
    states: dict[str, ReservationState] = {}
    by_title: dict[str, tuple[Any, list[Any]]] = {}
    for loan in loans:
        if loan.title_id is None:
            continue
        if loan.title_id not in by_title:
            by_title[loan.title_id] = (
                await holds_repo.queue(conn, loan.title_id),
                await items_repo.title_rows(conn, loan.title_id),
            )
        queue, copies = by_title[loan.title_id]
        other = any(c.id != loan.item_id and c.status == "AVAILABLE" for c in copies)
        states[loan.item_id] = reservation_state(queue, loan.patron_id, other_copy_available=other)
    return states


async def _renewal_inputs(
    conn: AsyncConnection, lib: Library, patron_id: str, selected: Sequence[str] | None
):
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    loans = await loans_repo.active_loans(conn, patron_id)
    ids = {loan.loan_id for loan in loans}
    chosen = list(selected) if selected else [loan.loan_id for loan in loans]
    unknown = [x for x in chosen if x not in ids]
    if unknown:
        raise NotFound(f"no loan {unknown[0]} on loan to this patron")
    ledger = await ledger_repo.ledger(conn, patron_id, lib.policy.currency)
    return patron, loans, chosen, ledger, await _reservations(conn, loans)


async def preview_renewals(
    conn: AsyncConnection, lib: Library, patron_id: str, selected: Sequence[str] | None
) -> RenewalPlan:
    """The dry run: what renewing these now would do (all loans when none are selected)."""
    patron, loans, chosen, ledger, reservations = await _renewal_inputs(
        conn, lib, patron_id, selected
    )
    return domain.preview_renewals(
        lib.policy,
        patron=patron,
        loans=loans,
        selected=chosen,
        at=lib.now(),
        ledger=ledger,
        reservations=reservations,
    )


@dataclass(frozen=True)
class PendingRenewal:
    """HKALL-13, MALA-05: a renewal of another library's item, asked of its lender; the loan
    keeps its due date until the lender answers."""

    loan_id: str
    item_id: str
    transaction_id: str
    lender: str
    due_date: Any


@dataclass
class Renewed:
    plan: RenewalPlan
    transaction: RenewalTransaction | None
    loans: dict[str, Loan]
    fines: tuple[LedgerEntry, ...]
    pending: tuple[PendingRenewal, ...] = ()
    #: loans the plan allowed that could not be asked of their lender (one already pending)
    not_asked: tuple[Refusal, ...] = ()


async def _ask_lenders(
    conn: AsyncConnection, lib: Library, loans: Sequence[Loan], plan: RenewalPlan, actor: str
) -> tuple[list[PendingRenewal], list[Refusal]]:
    """Send Renew to the lender of every ILL loan the home library has no objection to (the
    patron's standing, HKALL-18/19, MALA-10); the lender decides the rest."""
    by_id = {loan.loan_id: loan for loan in loans}
    pending: list[PendingRenewal] = []
    refused: list[Refusal] = []
    for outcome in plan.renewable:
        if not outcome.needs_lender_approval:
            continue
        loan = by_id[outcome.loan_id]
        try:
            row = await ill_borrowing.ask_renewal(conn, lib, loan, actor=actor)
        except ill_borrowing.IllStepRefused as exc:
            refused.append(
                Refusal(
                    rule=lib.policy.renewals.approval_rule or lib.policy.renewals.rule,
                    code="renewal_pending",
                    action="renewal",
                    reason=str(exc),
                    item_id=loan.item_id,
                )
            )
            continue
        pending.append(
            PendingRenewal(
                loan_id=loan.loan_id,
                item_id=loan.item_id,
                transaction_id=row["transaction_id"],
                lender=row["lender"],
                due_date=loan.due_date,
            )
        )
    return pending, refused


async def renew(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    selected: Sequence[str],
    *,
    actor: str | None = None,
) -> Outcome[Renewed]:
    """Renew what may be renewed (HKPL-02: 14 days from today; HKPL-04: overdue too, the
    late days charged now; HKPL-05: a set together) under one Transaction Reference Number
    (HKPL-06), at any hour (HKPL-07). Another library's item is asked of its lender and
    answered "pending the lender's approval" (HKALL-13, MALA-05). When nothing may be
    renewed or asked, every refusal is told."""
    patron, loans, chosen, ledger, reservations = await _renewal_inputs(
        conn, lib, patron_id, selected
    )
    kwargs = dict(
        patron=patron,
        loans=loans,
        selected=chosen,
        at=lib.now(),
        ledger=ledger,
        reservations=reservations,
    )
    plan = domain.preview_renewals(lib.policy, **kwargs)
    pending, not_asked = await _ask_lenders(conn, lib, loans, plan, actor or f"patron:{patron_id}")
    local = [o for o in plan.renewable if not o.needs_lender_approval]
    if not local and not pending:
        refusals = [*not_asked, *(r for o in plan.refused for r in o.decision.refusals)]
        await _notify_refused(conn, lib, patron, plan, reference=None)
        # The patron is told by e-mail too (HKALL-13), so the notice is committed although
        # the request is answered with the refusal.
        return Outcome.refuse(Decision.of("renewal", refusals))
    transaction = None
    by_id = {loan.loan_id: loan for loan in loans}
    fines: tuple[LedgerEntry, ...] = ()
    if local:
        sequence = await counters_repo.next_number(conn, "renewal")
        result = domain.renew_loans(lib.policy, library=lib.code, sequence=sequence, **kwargs)
        transaction = result.transaction
        assert transaction is not None  # local loans renew here, with no approval
        renewed = {i.loan_id for i in transaction.items}
        by_id = {loan.loan_id: loan for loan in result.loans}
        fines = result.fines
        for loan_id in renewed:
            await _save_active(conn, by_id[loan_id], renewing=True)
        await loans_repo.add_renewal_transaction(conn, transaction, plan.renewal_day)
        await ledger_repo.add_entries(conn, *result.fines)
        rows = await items_repo.item_rows(conn, [i.item_id for i in transaction.items])
        titles = {
            i.item_id: rows[i.item_id].title if i.item_id in rows else i.item_id
            for i in transaction.items
        }
        # HKPL-04: the late days' fines posted now are told like any other fine.
        await notify_events(conn, lib, {patron.patron_id: patron}, result.events, titles=titles)
        await notify_renewal(
            conn,
            lib,
            patron,
            transaction.reference,
            [(titles[i.item_id], i.new_due_date) for i in transaction.items],
        )
    if plan.refused:
        await _notify_refused(
            conn, lib, patron, plan, reference=transaction.reference if transaction else None
        )
    return Outcome.done(
        Renewed(
            plan=plan,
            transaction=transaction,
            loans=by_id,
            fines=fines,
            pending=tuple(pending),
            not_asked=tuple(not_asked),
        )
    )


async def _notify_refused(
    conn: AsyncConnection,
    lib: Library,
    patron: Patron,
    plan: RenewalPlan,
    *,
    reference: str | None,
) -> None:
    """HKALL-13, HKPL-03, HKPL-05: the items of the request that were not renewed."""
    rows = await items_repo.item_rows(conn, [o.item_id for o in plan.refused])
    refused = [
        (rows[o.item_id].title if o.item_id in rows else o.item_id, o.due_date, list(refusals))
        for o in plan.refused
        if (refusals := o.decision.refusals)
    ]
    if refused:
        await notify_renewal_denied(
            conn,
            lib,
            patron,
            renewal_denial_id(patron.patron_id, plan, reference),
            refused,
            transaction_ref=reference,
        )


async def lookup_transaction(
    conn: AsyncConnection, reference: str, *, patron_id: str | None = None
) -> tuple[RenewalTransaction, dict[str, Any]]:
    """HKPL-06: what a Transaction Reference Number stands for. A patron sees only their
    own: another patron's number is answered as unknown."""
    transaction = await loans_repo.get_renewal_transaction(conn, reference.strip().upper())
    if transaction is None or (patron_id is not None and transaction.patron_id != patron_id):
        raise NotFound(f"no renewal transaction {reference}")
    rows = await items_repo.item_rows(conn, [i.item_id for i in transaction.items])
    return transaction, rows


@dataclass
class LossOutcome:
    loan: Loan
    charge: LedgerEntry
    fine: LedgerEntry | None


async def charge_lost_or_damaged(
    conn: AsyncConnection,
    lib: Library,
    loan_id: str,
    *,
    damaged: bool,
    replacement_cost_minor: int | None,
    surcharge_percent: int | None,
) -> LossOutcome:
    """HKPL-13: the librarian's replacement sum (of the item or its whole set) plus a
    surcharge of up to 20%. The loan ends here, with the overdue fine up to today; the item
    becomes LOST or DAMAGED."""
    action = "damaged item charge" if damaged else "lost item charge"
    if (refusal := surcharge_refusal(lib.policy, surcharge_percent, action)) is not None:
        raise Refused(Decision.of(action, [refusal]), 422)  # never allowed, whatever the loan
    loan = await loans_repo.get_loan(conn, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    patron = await load_patron(conn, lib, loan.patron_id, for_update=True)
    # Decided on the loan as it is once the account is locked (see return_item).
    loan = await loans_repo.get_loan(conn, loan_id, for_update=True)
    if loan is None or not loan.active:
        raise LoanNotActive(f"loan {loan_id} was already returned")
    row = await _item_row(conn, item_id=loan.item_id, barcode=None)
    item = items_repo.item_of(row, lib.code, lib.policy.currency)
    main = None
    if item.main_item_id:
        main_row = await items_repo.find_item_row(conn, item_id=item.main_item_id)
        main = items_repo.item_of(main_row, lib.code, lib.policy.currency) if main_row else None
    cost = lib.policy.money(replacement_cost_minor) if replacement_cost_minor is not None else None
    charge = domain.lost_item_entry(
        lib.policy,
        loan,
        item,
        at=lib.now(),
        damaged=damaged,
        replacement_cost=cost,
        surcharge_percent=surcharge_percent,
        main_item=main,
    )
    result = domain.settle_loss(lib.policy, loan, item, charge, at=lib.now())
    await _save_active(conn, result.loan)
    await ledger_repo.add_entries(conn, result.fine_entry, result.charge)
    await items_repo.set_status(conn, lib.code, item.item_id, result.item.status, lib.clock)
    await notify_events(conn, lib, {patron.patron_id: patron}, result.events)
    return LossOutcome(loan=result.loan, charge=result.charge, fine=result.fine_entry)
