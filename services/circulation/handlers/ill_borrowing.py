"""The requester's side of inter-library loans (ILL.md): a patron's request, decided by the
home library and sent to the broker; the broker's and lender's answers, applied in the
broker's order; receiving the lender's item, the patron's pickup and loan, the return at any
service point, the shipment back, and the pickup deadline job.

Each handler loads the transaction, asks the domain (:mod:`..domain.ill_requester` for the
state, :mod:`..domain.ill_borrowing` for eligibility) and saves what it decided, recording
every transition in ``ill_history`` with the message or the action that caused it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.catalogue_client import CatalogueClient
from libs.common.contracts import Envelope
from libs.common.contracts.ill import (
    IllError,
    IllPatron,
    IllRecord,
    IllRequest,
    IllRequesterMessage,
    IllRouting,
    IllSupplierMessage,
    LoanTerms,
)
from libs.common.messaging.inbox import claims_along
from libs.common.policy import Decision, Refusal, pickup_deadline, standing_refusals
from services.circulation.adapters import (
    counters_repo,
    items_repo,
    ledger_repo,
    loans_repo,
)
from services.circulation.adapters import (
    ill_borrowing_repo as repo,
)
from services.circulation.adapters.tables import items
from services.circulation.domain import ill_requester as machine
from services.circulation.domain.account import account_facts
from services.circulation.domain.errors import DomainError
from services.circulation.domain.ill_borrowing import (
    CatalogueRecord,
    HomeCopy,
    RequestDecision,
    decide_request,
    duplicate_of,
    is_visiting,
    isbn_keys,
    new_pseudonym,
    visiting_item_id,
    visiting_recall_refusal,
)
from services.circulation.domain.ill_requester import RequesterState, Transition
from services.circulation.domain.lending import (
    RenewalTransaction,
    RenewedItem,
    transaction_reference,
)
from services.circulation.domain.loan import Loan
from services.circulation.domain.loan_terms import lender_terms_of
from services.circulation.handlers import ill_loan_end, ill_messages
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused
from services.circulation.handlers.notices import (
    notify_renewal,
    notify_renewal_denied,
    request_notice,
)
from services.circulation.handlers.patrons import load_patron

log = structlog.get_logger("illfed.circulation.ill_borrowing")
ROLE = "requester"
#: a returned ILL item waits here to be shipped back to its lender
RETURNED_STATUS = "IN_PROCESSING"
#: a lender's item once the lender has checked it in again
VISIT_ENDED = "WITHDRAWN"
S = RequesterState


class DuplicateIllRequest(DomainError):
    """The patron already has an open request for the record (ILL.md: a duplicate)."""

    code = "duplicate_ill_request"


class IllStepRefused(DomainError):
    """A staff or patron action the request's state does not allow."""

    code = "ill_step_not_allowed"


class CatalogueAway(Exception):
    """The catalogue could not be asked about the record: nothing was created."""


# --------------------------------------------------------------------------------------------
# Requesting


async def lookup_record(
    catalogue: CatalogueClient, lib: Library, record_id: int
) -> CatalogueRecord:
    """The record with its holdings, by the union catalogue (raises :class:`NotFound`, or
    ``CatalogueUnavailable`` when it is away)."""
    doc = await catalogue.record(record_id, home_library=lib.code)
    if doc is None:
        raise NotFound(f"no record {record_id} in the union catalogue")
    return CatalogueRecord.of(doc)


async def home_copies(
    conn: AsyncConnection, lib: Library, record: CatalogueRecord
) -> list[HomeCopy]:
    """HKALL-03: the home library's own copies of the title, by its own items table (the
    authority; the catalogue only mirrors it): the items the record lists as this library's,
    and any item with one of the record's ISBNs."""
    ids = record.home_item_ids(lib.code)
    keys = isbn_keys(record.isbns)
    # ISBNs are stored as typed (with or without hyphens): compared without them.
    typed = func.upper(func.replace(func.replace(items.c.isbn, "-", ""), " ", ""))
    where = []
    if ids:
        where.append(items.c.id.in_(ids))
    if keys:
        where.append(typed.in_(sorted(keys)))
    if not where:
        return []
    rows = (await conn.execute(select(items).where(or_(*where)))).all()
    return [
        HomeCopy(r.id, r.status, r.material_type, r.service_point)
        for r in rows
        if not is_visiting(r.id)
    ]


@dataclass
class Prepared:
    patron_id: str
    category: str
    decision: RequestDecision


async def _decide(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    record: CatalogueRecord,
    *,
    pickup_location: str,
    needed_by: date | None,
    lock: bool,
) -> Prepared:
    if pickup_location not in lib.service_points:
        raise Invalid(f"{pickup_location!r} is not a service point of this library")
    if needed_by is not None and needed_by < lib.today():
        raise Invalid("needed_by is in the past")
    patron = await load_patron(conn, lib, patron_id, for_update=lock)
    requests = await repo.open_requests(conn, patron_id)
    if (dup := duplicate_of(requests, record.record_id)) is not None:
        raise DuplicateIllRequest(
            f"you already have an open request ({dup.transaction_id}) for record {record.record_id}"
        )
    decision = decide_request(
        lib.policy,
        consortium=lib.policy.policy.consortium,
        home=lib.code,
        patron=patron,
        loans=await loans_repo.active_loans(conn, patron_id),
        ledger=await ledger_repo.ledger(conn, patron_id, lib.policy.currency),
        requests=requests,
        record=record,
        home_copies=await home_copies(conn, lib, record),
        on=lib.today(),
    )
    return Prepared(patron_id, patron.category, decision)


async def dry_run(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    record: CatalogueRecord,
    *,
    pickup_location: str,
    needed_by: date | None,
) -> RequestDecision:
    """Would this request be accepted, and if not, every rule that refuses it (nothing is
    created or sent)."""
    return (
        await _decide(
            conn,
            lib,
            patron_id,
            record,
            pickup_location=pickup_location,
            needed_by=needed_by,
            lock=False,
        )
    ).decision


async def place_request(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    record: CatalogueRecord,
    *,
    pickup_location: str,
    needed_by: date | None,
    actor: str,
) -> dict[str, Any]:
    """Decide, then hold the quota (the request row, state Requested) and send the
    ``ill.request`` to the broker, all in the caller's transaction (MALA-07: through the
    broker only). The patron's account is locked so that two requests at once are counted
    one after the other against the quota."""
    prepared = await _decide(
        conn,
        lib,
        patron_id,
        record,
        pickup_location=pickup_location,
        needed_by=needed_by,
        lock=True,
    )
    if not prepared.decision.decision.allowed:
        raise Refused(prepared.decision.decision)
    txn = str(uuid.uuid4())
    now = lib.now()
    ref = new_pseudonym()
    consortium = lib.policy.policy.consortium
    isbn = record.isbns[0][:20] if record.isbns else None
    row = await repo.add(
        conn,
        {
            "transaction_id": txn,
            "patron_id": patron_id,
            "patron_ref": ref,
            "category": prepared.category,
            "record_id": record.record_id,
            "title": record.title,
            "authors": list(record.authors),
            "isbn": isbn,
            "material_type": record.material_type,
            "pickup_location": pickup_location,
            "needed_by": needed_by,
            "state": S.REQUESTED.value,
            "quota_held": True,
            "candidates": list(prepared.decision.lenders),
            "requested_by": actor[:80],
            "created_at": now,
            "updated_at": now,
        },
    )
    await ill_messages.record(
        conn,
        lib,
        transaction_id=txn,
        role=ROLE,
        from_state=None,
        to_state=S.REQUESTED.value,
        event="request",
        actor=actor,
    )
    await ill_messages.to_broker(
        conn,
        lib,
        txn,
        lambda seq: IllRequest(
            transaction_id=txn,
            seq=seq,
            requester=lib.code,
            pickup_location=pickup_location,
            # Privacy: a random pseudonym, the category and the consortium; nothing else.
            patron=IllPatron(ref=ref, category=prepared.category, consortium=consortium),
            record=IllRecord(
                record_id=record.record_id,
                title=record.title,
                authors=[a[:200] for a in record.authors][:20],
                isbn=isbn,
            ),
            needed_by=needed_by,
            requested_at=now,
        ),
        causation_id=None,
    )
    return row


# --------------------------------------------------------------------------------------------
# Applying a transition


async def _apply(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    outcome: Transition,
    *,
    actor: str,
    message_id: str | None,
    causation_id: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``outcome``: the guarded step with what the event brought, the history row, the
    message to the broker and the notice owed to the patron."""
    txn = row["transaction_id"]
    values = {**outcome.updates, **(extra or {})}
    if outcome.release_quota:
        values["quota_held"] = False
    # The update answers the row as it left it: nothing later here writes ill_borrowing, so
    # that is the request as the caller is answered with (no read of it again).
    updated: dict[str, Any] | None = row
    if outcome.step == "note":
        if values:
            updated = await repo.update_fields(conn, txn, lib.now(), **values)
    else:
        # The message to the broker numbered by the step's own statement.
        numbers = {ill_messages.BROKER: 1} if outcome.send is not None else None
        updated = await repo.take_step(
            conn, txn, outcome.step, lib.now(), numbers=numbers, **values
        )
        if updated is None:
            # Another worker moved the transaction first: this step no longer applies.
            raise IllStepRefused(f"the request is no longer {outcome.state.value}")
    if outcome.to is S.COMPLETED and row["item_id"]:
        # The lender has its item back: the visiting copy is no longer here. Its row stays
        # (the patron's loan names it), with the status that says it left for good.
        await items_repo.set_status(conn, lib.code, row["item_id"], VISIT_ENDED, lib.clock)
    await ill_messages.record(
        conn,
        lib,
        transaction_id=txn,
        role=ROLE,
        from_state=outcome.state.value,
        to_state=outcome.to.value,
        event=outcome.event,
        actor=actor,
        message_id=message_id,
    )
    if outcome.send is not None:
        action = outcome.send
        await ill_messages.to_broker(
            conn,
            lib,
            txn,
            lambda seq: IllRequesterMessage(
                transaction_id=txn,
                seq=seq,
                requester=lib.code,
                action=action,
                occurred_at=lib.now(),
                # Never a note: free text here could name the patron, and it would reach
                # the lender (ILL.md, privacy). The broker and the lender drop one anyway.
                note=None,
            ),
            causation_id=causation_id,
        )
    reference = await _loan_follows(conn, lib, row, outcome, values)
    if outcome.notice in _LOAN_NOTICES:
        await _notify_loan_change(conn, lib, row, outcome, values, reference, message_id)
    elif outcome.notice is not None:
        patron = await load_patron(conn, lib, row["patron_id"])
        fields: dict[str, Any] = {"title": row["title"]}
        if outcome.notice == "ill_arrived":
            fields["pickup_location"] = lib.service_point_name(row["pickup_location"])
            fields["pickup_by"] = values.get("pickup_by")
        if outcome.notice == "ill_charged":  # HKALL-20, MALA-11: the lender's charge
            fields.update(
                amount_minor=values.get("charge_minor"),
                currency=values.get("charge_currency"),
                rule=values.get("charge_rule"),
            )
        await request_notice(conn, lib, patron, outcome.notice, f"{outcome.notice}:{txn}", **fields)
    assert updated is not None
    return updated


# --------------------------------------------------------------------------------------------
# After the checkout: renewals asked of the lender, its answers and its recalls

#: notices about the patron's loan itself, told like the home library's own loans' are
_LOAN_NOTICES = ("renewal_approved", "renewal_denied", "recall")


async def _loan_follows(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    outcome: Transition,
    values: dict[str, Any],
) -> str | None:
    """The patron's loan follows what the lender said: an approved renewal's new due date
    (recorded under a Transaction Reference Number, HKALL-13: the new due date shows in the
    patron's account), or a recall's date and the recalled fine rate (HKALL-11, HKALL-16).
    Returns the renewal's reference number."""
    approved = outcome.step == "renewal_answered" and values.get("renewal_state") == "approved"
    recalled = "recalled_on" in values
    if not (approved or recalled) or not row["loan_id"]:
        return None
    loan = await loans_repo.get_loan(conn, row["loan_id"], for_update=True)
    if loan is None or not loan.active:
        return None
    if recalled:
        # A recall never extends the loan (HKALL-11); the recalled rate applies from now.
        due = min(loan.due_date, values["due_date"])
        await _save_loan(
            conn, loan.model_copy(update={"due_date": due, "recalled_on": values["recalled_on"]})
        )
        return None
    due = values["due_date"]
    renewed = loan.model_copy(
        update={
            "due_date": due,
            "renewals": loan.renewals + 1,
            "consecutive_renewals": loan.consecutive_renewals + 1,
        }
    )
    await _save_loan(conn, renewed)
    reference = transaction_reference(
        lib.code, lib.today(), await counters_repo.next_number(conn, "renewal")
    )
    await loans_repo.add_renewal_transaction(
        conn,
        RenewalTransaction(
            reference=reference,
            patron_id=loan.patron_id,
            at=lib.now(),
            items=(RenewedItem(loan_id=loan.loan_id, item_id=loan.item_id, new_due_date=due),),
        ),
        lib.today(),
    )
    return reference


async def _save_loan(conn: AsyncConnection, loan: Loan) -> None:
    if not await loans_repo.save_active_loan(conn, loan):
        raise IllStepRefused(f"the loan {loan.loan_id} was returned meanwhile")


async def _notify_loan_change(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    outcome: Transition,
    values: dict[str, Any],
    reference: str | None,
    message_id: str | None,
) -> None:
    """HKALL-13: the renewal's answer is e-mailed either way; HKALL-11, MALA-06: a recall at
    once, with the date to return by."""
    patron = await load_patron(conn, lib, row["patron_id"])
    title = row["title"]
    # one notice per answer: a loan may be renewed, or refused, more than once
    once = hashlib.sha256(f"{row['transaction_id']}:{message_id}".encode()).hexdigest()[:24]
    if outcome.notice == "renewal_approved" and reference is not None:
        await notify_renewal(conn, lib, patron, reference, [(title, values["due_date"])])
    elif outcome.notice == "renewal_denied":
        refusal = Refusal(
            rule=values.get("renewal_rule") or lib.policy.renewals.rule,
            code="lender_refused",
            action="renewal",
            reason=values.get("renewal_reason") or "the lending library did not renew it",
        )
        await notify_renewal_denied(
            conn, lib, patron, f"ill-renewal-denied:{once}", [(title, row["due_date"], [refusal])]
        )
    elif outcome.notice == "recall":
        await request_notice(
            conn,
            lib,
            patron,
            "recall",
            f"ill-recall:{once}",
            title=title,
            due_date=values["due_date"],
        )


async def ask_renewal(conn: AsyncConnection, lib: Library, loan: Loan, *, actor: str) -> dict:
    """HKALL-13, MALA-05: the patron's renewal of another library's item is asked of its
    lender (Renew); the loan is renewed only when the lender says yes, never silently."""
    found = await repo.by_item(conn, loan.item_id)
    if found is None:
        raise NotFound(f"no inter-library loan request for item {loan.item_id}")
    row = await _load(conn, found["transaction_id"])
    if row["renewal_state"] == "pending":
        raise IllStepRefused(
            "a renewal of this item is already waiting for the lending library's answer"
        )
    outcome = _decided(row["state"], "renew")
    return await _apply(
        conn,
        lib,
        row,
        outcome,
        actor=actor,
        message_id=None,
        causation_id=None,
        extra={
            "renewal_state": "pending",
            "renewal_requested_at": lib.now(),
            "renewal_rule": None,
            "renewal_reason": None,
        },
    )


async def recall_here(conn: AsyncConnection, lib: Library, transaction_id: str) -> dict:
    """HKALL-10: this library cannot recall another library's item from its own patron; only
    the lender recalls (its staff, or a hold by one of its own users)."""
    await _load(conn, transaction_id)
    raise Refused(Decision.of("recall", [visiting_recall_refusal(lib.policy)]))


def renewal_status(row: dict[str, Any], now: datetime, answer_hours: int) -> dict[str, Any] | None:
    """What the patron sees of a renewal asked of the lender: pending (and whether its answer
    is late: a loan is never renewed without it), approved or denied with the rule."""
    state = row.get("renewal_state")
    if state is None:
        return None
    asked = row.get("renewal_requested_at")
    late = state == "pending" and asked is not None and now - asked > timedelta(hours=answer_hours)
    return {
        "state": state,
        "lender": row["lender"],
        "requested_at": asked,
        "answer_late": late,
        "rule": row.get("renewal_rule"),
        "reason": row.get("renewal_reason"),
    }


# --------------------------------------------------------------------------------------------
# From the broker


@claims_along
async def on_broker_message(
    conn: AsyncConnection,
    lib: Library,
    env: Envelope,
    payload: IllRouting | IllSupplierMessage,
) -> None:
    """An ``ill.routing`` or ``ill.supplier_message`` from the broker: applied in the
    broker's ``seq`` order (parked if early, ignored if repeated); one that is illegal in the
    current state is recorded as refused and answered with ``ill.error``."""
    # Read once, locked: the message in hand is applied on this row; a parked successor it
    # releases reads the row again (the message before it changed it).
    first = await repo.get(conn, payload.transaction_id, for_update=True)
    if first is None:
        await ill_messages.refuse(
            conn,
            lib,
            env,
            transaction_id=payload.transaction_id,
            role=ROLE,
            state=None,
            event=env.type,
            reason=f"{lib.code} asked for no transaction {payload.transaction_id}",
            error_type="UnrecognisedDataValue",
        )
        return

    unread = [first]

    async def apply(envelope: Envelope, message: Any) -> None:
        row = (
            unread.pop()
            if unread
            else await repo.get(conn, message.transaction_id, for_update=True)
        )
        assert row is not None
        outcome = machine.on_broker(row["state"], message)
        if isinstance(outcome, machine.Refused):
            await ill_messages.refuse(
                conn,
                lib,
                envelope,
                transaction_id=message.transaction_id,
                role=ROLE,
                state=row["state"],
                event=outcome.event,
                reason=outcome.reason,
                error_type=outcome.error_type,
            )
            return
        await _apply(
            conn,
            lib,
            row,
            outcome,
            actor=envelope.sender,
            message_id=envelope.message_id,
            causation_id=envelope.message_id,
        )
        # the lender's charge, or its check-in of an item reported lost or claimed
        # returned, settles the patron's loan here (HKALL-17, HKALL-20, MALA-11)
        await ill_loan_end.after_lender(conn, lib, row, outcome)

    await ill_messages.from_broker(conn, lib, env, payload, apply)


async def on_ill_error(conn: AsyncConnection, lib: Library, env: Envelope, error: IllError) -> bool:
    """The broker refused one of this library's messages about a request of its patron: the
    refusal is recorded in the request's history (it changes no state). False when the
    transaction is not one of this library's requests (then it is the lending side's)."""
    row = await repo.get(conn, error.transaction_id)
    if row is None:
        return False
    await ill_messages.record(
        conn,
        lib,
        transaction_id=error.transaction_id,
        role=ROLE,
        from_state=row["state"],
        to_state=None,
        event=f"error:{error.refused_type}",
        actor=env.sender,
        message_id=env.message_id,
        refused=f"{error.error_type}: {error.reason}",
    )
    return True


async def on_error_message(conn: AsyncConnection, lib: Library, env: Envelope, error: IllError):
    if not await on_ill_error(conn, lib, env, error):
        log.info(
            "ill.error about a transaction this library did not request", txn=env.correlation_id
        )


# --------------------------------------------------------------------------------------------
# Staff and patron actions


async def _load(
    conn: AsyncConnection, transaction_id: str, *, patron_id: str | None = None
) -> dict[str, Any]:
    row = await repo.get(conn, transaction_id, for_update=True)
    # A patron sees only their own requests: another's is answered as unknown.
    if row is None or (patron_id is not None and row["patron_id"] != patron_id):
        raise NotFound(f"no inter-library loan request {transaction_id}")
    return row


def _decided(state: str, action: str) -> Transition:
    outcome = machine.on_action(state, action)
    if isinstance(outcome, machine.Refused):
        raise IllStepRefused(outcome.reason)
    return outcome


async def cancel(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    *,
    actor: str,
    patron_id: str | None = None,
) -> dict[str, Any]:
    """Ask to cancel before the lender ships (the patron or staff): CancelRequested, and a
    Cancel to the broker; the quota comes back with the answer (Cancelled)."""
    row = await _load(conn, transaction_id, patron_id=patron_id)
    outcome = _decided(row["state"], "cancel")
    return await _apply(conn, lib, row, outcome, actor=actor, message_id=None, causation_id=None)


def _visiting_barcode(row: dict[str, Any], taken: bool) -> str:
    barcode = row["lender_barcode"] or row["lender_item_id"] or row["transaction_id"]
    # The lender's barcode is what staff scan at the return desk; one that clashes with a
    # local barcode is kept apart by the lender's code.
    return (f"{row['lender']}:{barcode}" if taken else barcode)[:64]


async def receive(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, service_point: str, actor: str
) -> dict[str, Any]:
    """The lender's item arrived: it becomes known here (not as a holding of this library),
    waits at the pickup point until the deadline (HKALL-06: 5 days from the notice), the
    patron is e-mailed (HKALL-05) and the broker told Received."""
    if service_point not in lib.service_points:
        raise Invalid(f"{service_point!r} is not a service point of this library")
    row = await _load(conn, transaction_id)
    outcome = _decided(row["state"], "receive")
    item_id = visiting_item_id(transaction_id)
    taken = await items_repo.find_by_barcode(conn, _visiting_barcode(row, False)) is not None
    await items_repo.add_visiting_item(
        conn,
        {
            "id": item_id,
            "barcode": _visiting_barcode(row, taken),
            "title": row["title"],
            "authors": row["authors"] or [],
            "isbn": row["isbn"],
            "material_type": row["material_type"],
            "section": "adult",
            "service_point": row["pickup_location"],
            "call_number": None,
            "status": "ON_HOLD_SHELF",
            # Its own queue: no local reservation ever takes the lender's copy.
            "title_id": item_id,
        },
        lib.clock,
    )
    today = lib.today()
    extra = {
        "item_id": item_id,
        "arrived_on": today,
        "pickup_by": pickup_deadline(lib.policy, today),
    }
    outcome = Transition(
        outcome.step,
        outcome.state,
        outcome.to,
        f"receive@{service_point}",
        send=outcome.send,
        notice=outcome.notice,
        updates=extra,
    )
    return await _apply(conn, lib, row, outcome, actor=actor, message_id=None, causation_id=None)


async def checkout(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """The patron collects the item: a loan due on the LENDER's date (its loan terms, never
    the home policy), counted in the home quota as any loan (HKALL-09); the broker is told
    CheckedOut (the date starts a recall's minimum use period, HKALL-11)."""
    row = await _load(conn, transaction_id)
    outcome = _decided(row["state"], "checkout")
    patron = await load_patron(conn, lib, row["patron_id"], for_update=True)
    loans = await loans_repo.active_loans(conn, patron.patron_id)
    ledger = await ledger_repo.ledger(conn, patron.patron_id, lib.policy.currency)
    account = account_facts(patron=patron, loans=loans, ledger=ledger)
    blocked = standing_refusals(lib.policy, account, lib.today(), "checkout")
    if blocked:  # a suspension since the request was made (HKALL-18/19, MALA-10…)
        raise Refused(Decision.of("checkout", blocked))
    terms = LoanTerms.model_validate(row["loan_terms"])
    due = row["due_date"] or terms.due_date
    loan = Loan(
        patron_id=patron.patron_id,
        item_id=row["item_id"],
        owner_library=row["lender"],
        title_id=row["item_id"],
        material_type=row["material_type"],
        ill=True,
        lender=row["lender"],
        checked_out_at=lib.now(),
        checkout_date=lib.today(),
        due_date=due,
        borrowed_with="ill",
        # Fined at the lender's rates, caps and currency, never the home policy's (ILL.md).
        lender_terms=lender_terms_of(terms, fallback_rule=lib.policy.fines.rule),
        recalled_on=row.get("recalled_on"),
    )
    await loans_repo.save_loan(conn, loan)
    await items_repo.set_status(conn, lib.code, row["item_id"], "ON_LOAN", lib.clock)
    return await _apply(
        conn,
        lib,
        row,
        outcome,
        actor=actor,
        message_id=None,
        causation_id=None,
        extra={"loan_id": loan.loan_id},
    )


async def returned(conn: AsyncConnection, lib: Library, loan: Loan, service_point: str) -> None:
    """The patron returned the ILL item at a service point of the home library (any of them,
    HKALL-07; called by the returns route): Returned, waiting to be shipped back."""
    row = await repo.by_item(conn, loan.item_id, for_update=True)
    if row is None:
        raise NotFound(f"no inter-library loan request for item {loan.item_id}")
    outcome = _decided(row["state"], "returned")
    await items_repo.set_status(conn, lib.code, loan.item_id, RETURNED_STATUS, lib.clock)
    outcome = Transition(outcome.step, outcome.state, outcome.to, f"returned@{service_point}")
    await _apply(
        conn, lib, row, outcome, actor=f"{lib.code}:returns", message_id=None, causation_id=None
    )


async def ship_back(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """The item goes back to the lender (returned, or not picked up in time): ShippedReturn."""
    row = await _load(conn, transaction_id)
    outcome = _decided(row["state"], "ship_back")
    if row["item_id"]:
        await items_repo.set_status(conn, lib.code, row["item_id"], "IN_TRANSIT", lib.clock)
    return await _apply(conn, lib, row, outcome, actor=actor, message_id=None, causation_id=None)


async def expire_pickups(conn: AsyncConnection, lib: Library) -> int:
    """HKALL-06: an item not picked up by its last pickup day goes back to the lender, with
    no further notice to the patron: NotPickedUp, ready to ship back."""
    count = 0
    for row in await repo.awaiting_pickup_past(conn, lib.today()):
        if not machine.pickup_overdue(row["pickup_by"], lib.today()):
            continue
        outcome = _decided(row["state"], "pickup_expired")
        await _apply(
            conn,
            lib,
            row,
            outcome,
            actor="job:ill-pickup-expiry",
            message_id=None,
            causation_id=None,
        )
        count += 1
    return count


# --------------------------------------------------------------------------------------------
# Views


def request_view(row: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict:
    view = {
        "transaction_id": row["transaction_id"],
        "patron_id": row["patron_id"],
        "record_id": row["record_id"],
        "title": row["title"],
        "pickup_location": row["pickup_location"],
        "needed_by": row["needed_by"],
        "state": row["state"],
        "quota_held": row["quota_held"],
        "lender": row["lender"],
        "due_date": row["due_date"],
        "pickup_by": row["pickup_by"],
        "item_id": row["item_id"],
        "barcode": row["lender_barcode"],
        "loan_id": row["loan_id"],
        "renewal_state": row.get("renewal_state"),
        "recalled_on": row.get("recalled_on"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        **ill_loan_end.loss_view(row),
    }
    if history is not None:
        view["history"] = [
            {
                "at": h["at"],
                "from_state": h["from_state"],
                "to_state": h["to_state"],
                "event": h["event"],
                "actor": h["actor"],
                "message_id": h["message_id"],
                "refused": h["refused"],
            }
            for h in history
        ]
    return view


async def one_view(
    conn: AsyncConnection, transaction_id: str, *, patron_id: str | None = None
) -> dict:
    return await with_history(conn, await one_request(conn, transaction_id, patron_id=patron_id))


async def one_request(
    conn: AsyncConnection, transaction_id: str, *, patron_id: str | None = None
) -> dict[str, Any]:
    """The request's record (``patron_id``: only if it is that patron's)."""
    row = await repo.get(conn, transaction_id)
    if row is None or (patron_id is not None and row["patron_id"] != patron_id):
        raise NotFound(f"no inter-library loan request {transaction_id}")
    return row


async def with_history(conn: AsyncConnection, row: dict[str, Any]) -> dict:
    """The request's view, with its history."""
    return request_view(row, await ill_messages.history(conn, row["transaction_id"], ROLE))


def decision_view(decision: RequestDecision) -> dict:
    d = decision.decision
    return {
        "accepted": d.allowed,
        "lenders": list(decision.lenders),
        "rules": d.rules,
        "refusals": [
            {"rule": r.rule, "code": r.code, "reason": r.reason, "message": r.message}
            for r in d.refusals
        ],
    }
