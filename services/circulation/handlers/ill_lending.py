"""This library as the lender of an inter-library loan (ILL.md, "Supplier").

From the broker: a request (``ill.request``) creates the lending and, when the library's
policy answers by itself, holds an AVAILABLE copy of its own and says WillSupply, or says
Unfilled naming the rule (HKALL-02, HKALL-01/MALA-03); what the requester says
(``ill.requester_message``: Cancel, ShippedReturn, Received, CheckedOut) moves or annotates it.
Every broker message is applied in the broker's ``seq`` order; every transition is recorded
in the history; a message illegal in the current state is refused with ``ill.error``.

From the library's staff: will-supply, unfilled, ship (with the loan terms) and check-in.
A repeated action changes nothing: each step is a guarded update, and one already taken is
answered with the lending as it stands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope
from libs.common.contracts.ill import (
    IllRefusal,
    IllRequest,
    IllRequesterMessage,
    IllSupplierMessage,
)
from libs.common.messaging.consumer import RejectMessage
from libs.common.messaging.inbox import claims_along
from libs.common.policy import Decision, Refusal
from services.circulation.adapters import ill_lending_repo as repo
from services.circulation.adapters import items_repo
from services.circulation.domain.errors import ItemNotAvailable
from services.circulation.domain.ill_lending_copies import check_copy, choose_copy
from services.circulation.domain.ill_supplier import (
    LendingConflict,
    LendingState,
    Reply,
    on_requester_action,
    patron_refusal,
    staff_step,
    without_free_text,
)
from services.circulation.domain.items import Item
from services.circulation.domain.loan_terms import loan_terms
from services.circulation.handlers import ill_lending_loan
from services.circulation.handlers.context import Library, NotFound, Refused
from services.circulation.handlers.ill_messages import (
    BROKER,
    from_broker,
    record,
    refuse,
    to_broker,
)

ROLE = "supplier"
#: who took a step the library's policy took on its own
AUTO = "auto"
S = LendingState


class LostRace(Exception):
    """Another transaction moved the lending first; the message is retried and decided
    again on the state that transaction left."""


# From the broker -------------------------------------------------------------------------


@claims_along
async def on_request(
    conn: AsyncConnection, lib: Library, env: Envelope, payload: IllRequest
) -> None:
    """``ill.request`` from the broker, asking this library to supply."""
    if payload.supplier != lib.code:
        raise RejectMessage(f"the request asks {payload.supplier!r} to supply, not {lib.code!r}")
    await from_broker(conn, lib, env, payload, _applier(conn, lib))


@claims_along
async def on_requester_message(
    conn: AsyncConnection, lib: Library, env: Envelope, payload: IllRequesterMessage
) -> None:
    """``ill.requester_message`` the broker forwards from the requester. Its note is dropped
    before anything is written, parked or applied: privacy, see :func:`without_free_text`."""
    payload = without_free_text(payload)
    env = env.model_copy(update={"payload": payload.model_dump(mode="json")})
    await from_broker(conn, lib, env, payload, _applier(conn, lib))


def _applier(conn: AsyncConnection, lib: Library):
    # One applier for both types: a message released from the parking place may be of
    # either type, whichever message closed the gap.
    async def apply(env: Envelope, payload: Any) -> None:
        if isinstance(payload, IllRequest):
            await _request(conn, lib, env, payload)
        elif isinstance(payload, IllRequesterMessage):
            await _requester_message(conn, lib, env, payload)
        else:  # pragma: no cover - only the two types above are registered for lending
            raise RejectMessage(f"{env.type} is not a message to a lender")

    return apply


async def _request(conn: AsyncConnection, lib: Library, env: Envelope, payload: IllRequest):
    txn = payload.transaction_id
    # The INSERT says whether the transaction was requested here before (it adds nothing
    # then); the row that was there is read only to name its state in the refusal.
    row = await repo.create(conn, payload, lib.now())
    if row is None:
        existing = await repo.get(conn, txn)
        assert existing is not None
        await refuse(
            conn,
            lib,
            env,
            transaction_id=txn,
            role=ROLE,
            state=existing["state"],
            event="Request",
            reason="this transaction was already requested from this library",
            error_type="UnrecognisedDataValue",
        )
        return
    await record(
        conn,
        lib,
        transaction_id=txn,
        role=ROLE,
        from_state=None,
        to_state=S.REQUEST_RECEIVED,
        event="Request",
        actor=env.sender,
        message_id=env.message_id,
    )
    if lib.policy.ill.auto_accept:
        await _answer_by_policy(conn, lib, row, causation_id=env.message_id)


async def _answer_by_policy(
    conn: AsyncConnection, lib: Library, row: dict[str, Any], *, causation_id: str
) -> None:
    """WillSupply with a copy of its own AVAILABLE here, held; else Unfilled with the rule."""
    refusal = patron_refusal(
        lib.policy, category=row["patron_category"], consortium=row["patron_consortium"]
    )
    candidates = await _candidates(conn, lib, row)
    while refusal is None:
        choice = choose_copy(lib.policy, candidates)
        if choice.item is None:
            refusal = choice.refusal
            break
        if await _hold(conn, lib, choice.item):
            await _will_supply(conn, lib, row, choice.item, actor=AUTO, causation_id=causation_id)
            return
        # Lent at a counter a moment ago: the next copy, if any.
        candidates = [c for c in candidates if c.item_id != choice.item.item_id]
    assert refusal is not None
    await _unfilled(conn, lib, row, refusal, actor=AUTO, causation_id=causation_id)


async def _requester_message(
    conn: AsyncConnection, lib: Library, env: Envelope, payload: IllRequesterMessage
) -> None:
    txn = payload.transaction_id
    row = await repo.get(conn, txn, for_update=True)
    if row is None or row["requester"] != payload.requester:
        await refuse(
            conn,
            lib,
            env,
            transaction_id=txn,
            role=ROLE,
            state=row["state"] if row else None,
            event=payload.action,
            reason=f"{payload.requester} has no request of transaction {txn} at this library",
            error_type="UnrecognisedDataValue",
        )
        return
    state = S(row["state"])
    outcome = on_requester_action(state, payload.action)
    if outcome.decide == "renewal" and outcome.refused is None:
        await ill_lending_loan.answer_renewal(conn, lib, env, row, payload)
        return
    if outcome.refused is not None:
        await refuse(
            conn,
            lib,
            env,
            transaction_id=txn,
            role=ROLE,
            state=state,
            event=payload.action,
            reason=outcome.refused,
            error_type=outcome.error_type,
        )
        return
    now = lib.now()
    target = state
    if outcome.step is not None:
        numbers = {BROKER: 1} if outcome.reply is not None else None
        if not await repo.step(conn, txn, outcome.step, now, numbers=numbers):
            raise LostRace(f"{txn} moved on before {payload.action} could be applied")
        target = staff_step(state, outcome.step)
        if outcome.step == "cancel" and row["item_id"]:
            await _release(conn, lib, row["item_id"])
    if outcome.remember is not None:
        day = lib.policy.local_date(payload.occurred_at)
        await repo.remember(conn, txn, now, **{outcome.remember: day})
    await record(
        conn,
        lib,
        transaction_id=txn,
        role=ROLE,
        from_state=state,
        to_state=target,
        event=payload.action,
        actor=env.sender,
        message_id=env.message_id,
    )
    if outcome.reply is not None:
        await tell(conn, lib, txn, outcome.reply, causation_id=env.message_id)
    if outcome.decide in ("lost_charge", "damaged_charge"):
        # HKALL-20, MALA-11: priced by this library's own policy (a module built on the
        # steps here, hence imported at the call)
        from services.circulation.handlers import ill_lending_charges

        await ill_lending_charges.decide(
            conn, lib, txn, outcome.decide, payload, causation_id=env.message_id
        )


# Staff actions ---------------------------------------------------------------------------


async def will_supply(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, barcode: str | None, actor: str
) -> dict[str, Any]:
    """Staff accept a waiting request, with the copy they chose or the first AVAILABLE one."""
    row = await load(conn, transaction_id)
    if row["state"] == S.WILL_SUPPLY and barcode in (None, row["barcode"]):
        return row  # already answered: a repeat changes nothing
    staff_step(row["state"], "will_supply")
    if barcode is not None:
        item = await _item_by_barcode(conn, lib, barcode)
        _refuse_copy(check_copy(lib.policy, item))
    else:
        choice = choose_copy(lib.policy, await _candidates(conn, lib, row))
        _refuse_copy(choice.refusal)
        assert choice.item is not None
        item = choice.item
    if not await _hold(conn, lib, item):
        raise ItemNotAvailable(f"the copy {item.barcode} was lent meanwhile")
    await _will_supply(conn, lib, row, item, actor=actor, causation_id=None)
    return await load(conn, transaction_id)


async def unfilled(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    *,
    reason: str,
    rule: str | None,
    actor: str,
) -> dict[str, Any]:
    """Staff decline a waiting request, with the reason (and the rule, if one refuses)."""
    row = await load(conn, transaction_id)
    if row["state"] == S.UNFILLED:
        return row
    staff_step(row["state"], "unfilled")
    await _unfilled(
        conn, lib, row, IllRefusal(rule=rule, reason=reason), actor=actor, causation_id=None
    )
    return await load(conn, transaction_id)


async def ship(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, barcode: str, actor: str
) -> dict[str, Any]:
    """Staff send the copy: it is ON_ILL_LOAN to the requester, due by the loan terms of
    the lender's policy for the patron's category (HKALL-08, MALA-04), sent with Loaned."""
    row = await load(conn, transaction_id)
    if row["state"] != S.WILL_SUPPLY and row["barcode"] == barcode and row["shipped_on"]:
        return row  # shipped already: a repeat changes nothing
    staff_step(row["state"], "ship")
    item = await _item_by_barcode(conn, lib, barcode)
    swapped = item.item_id != row["item_id"]
    if swapped:  # another copy than the one held: it must be lendable now
        _refuse_copy(check_copy(lib.policy, item))
    terms = loan_terms(
        lib.policy,
        patron_category=row["patron_category"],
        shipped_on=lib.today(),
        material_type=item.material_type,
        section=item.section,
    )
    # The lending as the step left it answers the call: nothing after writes ill_lending.
    shipped = await take_step(
        conn,
        lib,
        row,
        "ship",
        S.LOANED,
        actor=actor,
        item_id=item.item_id,
        barcode=item.barcode,
        shipped_on=lib.today(),
        due_date=terms.due_date,
        loan_terms=terms.model_dump(mode="json"),
    )
    lent = await items_repo.set_status(
        conn,
        lib.code,
        item.item_id,
        "ON_ILL_LOAN",
        lib.clock,
        expected=("AVAILABLE",) if swapped else ("IN_PROCESSING",),
    )
    if lent is None:
        raise ItemNotAvailable(f"the copy {item.barcode} is no longer {item.status}")
    if swapped and row["item_id"]:
        await _release(conn, lib, row["item_id"])
    reply = Reply(
        "Loaned",
        "StatusChange",
        item_id=item.item_id,
        barcode=item.barcode,
        due_date=terms.due_date,
        loan_terms=terms,
    )
    await tell(conn, lib, transaction_id, reply, causation_id=None)
    return shipped


async def check_in(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """The copy is back: AVAILABLE again (the catalogue hears of it through item.changed),
    the loan completed, and the requester told."""
    row = await load(conn, transaction_id)
    if row["state"] == S.LOAN_COMPLETED:
        return row
    staff_step(row["state"], "check_in")
    done = await take_step(conn, lib, row, "check_in", S.LOAN_COMPLETED, actor=actor)
    back = await items_repo.set_status(
        conn, lib.code, row["item_id"], "AVAILABLE", lib.clock, expected=("ON_ILL_LOAN",)
    )
    if back is None:
        raise ItemNotAvailable(f"the copy {row['barcode']} is not ON_ILL_LOAN")
    reply = Reply("LoanCompleted", "StatusChange", item_id=row["item_id"], barcode=row["barcode"])
    await tell(conn, lib, transaction_id, reply, causation_id=None)
    return done


# Shared steps ----------------------------------------------------------------------------


async def load(conn: AsyncConnection, transaction_id: str) -> dict[str, Any]:
    row = await repo.get(conn, transaction_id, for_update=True)
    if row is None:
        raise NotFound(f"no lending of ILL transaction {transaction_id}")
    return row


async def _candidates(conn: AsyncConnection, lib: Library, row: dict[str, Any]) -> list[Item]:
    rows = await repo.candidate_rows(conn, list(row["lender_items"] or []), row["isbn"])
    return [items_repo.item_of(r, lib.code, lib.policy.currency) for r in rows]


async def _item_by_barcode(conn: AsyncConnection, lib: Library, barcode: str) -> Item:
    found = await items_repo.find_item_row(conn, barcode=barcode)
    if found is None:
        raise NotFound(f"no item with barcode {barcode}")
    return items_repo.item_of(found, lib.code, lib.policy.currency)


def _refuse_copy(refusal: IllRefusal | None) -> None:
    if refusal is None:
        return
    if refusal.rule is None:
        raise ItemNotAvailable(refusal.reason)
    raise Refused(
        Decision.of(
            "lending through inter-library loan",
            [
                Refusal(
                    rule=refusal.rule,
                    code="ill_copy_not_lendable",
                    action="lending through inter-library loan",
                    reason=refusal.reason,
                )
            ],
        )
    )


async def _hold(conn: AsyncConnection, lib: Library, item: Item) -> bool:
    """Take the copy off the shelf for the requester, only if it is still AVAILABLE here."""
    held = await items_repo.set_status(
        conn, lib.code, item.item_id, "IN_PROCESSING", lib.clock, expected=("AVAILABLE",)
    )
    return held is not None


async def _release(conn: AsyncConnection, lib: Library, item_id: str) -> None:
    """Put a held copy back on the shelf (a copy staff moved meanwhile is left as it is)."""
    await items_repo.set_status(
        conn, lib.code, item_id, "AVAILABLE", lib.clock, expected=("IN_PROCESSING",)
    )


async def _will_supply(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    item: Item,
    *,
    actor: str,
    causation_id: str | None,
) -> None:
    txn = row["transaction_id"]
    await take_step(
        conn,
        lib,
        row,
        "will_supply",
        S.WILL_SUPPLY,
        actor=actor,
        causation_id=causation_id,
        item_id=item.item_id,
        barcode=item.barcode,
    )
    reply = Reply("WillSupply", "RequestResponse", item_id=item.item_id, barcode=item.barcode)
    await tell(conn, lib, txn, reply, causation_id=causation_id)


async def _unfilled(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    refusal: IllRefusal,
    *,
    actor: str,
    causation_id: str | None,
) -> None:
    txn = row["transaction_id"]
    await take_step(
        conn,
        lib,
        row,
        "unfilled",
        S.UNFILLED,
        actor=actor,
        causation_id=causation_id,
        refusal_rule=refusal.rule,
        refusal_reason=refusal.reason[:500],
    )
    await tell(
        conn,
        lib,
        txn,
        Reply("Unfilled", "RequestResponse", refusal=refusal),
        causation_id=causation_id,
    )


async def take_step(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    step: str,
    to_state: str,
    *,
    actor: str,
    causation_id: str | None = None,
    **values: Any,
) -> dict[str, Any]:
    """Take ``step`` on the lending (a guarded update: another worker that answered first
    wins) and record the transition; ``values`` are what the step writes with it. Returns
    the lending as the step left it. Every step taken here is told to the broker
    (:func:`tell`), the message numbered by the step's own statement."""
    txn = row["transaction_id"]
    after = await repo.step(conn, txn, step, lib.now(), numbers={BROKER: 1}, **values)
    if after is None:
        raise LendingConflict(f"{txn} was changed meanwhile; look at it again")
    await record(
        conn,
        lib,
        transaction_id=txn,
        role=ROLE,
        from_state=row["state"],
        to_state=to_state,
        event=step,
        actor=actor,
        message_id=causation_id,
    )
    return after


async def tell(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    reply: Reply,
    *,
    causation_id: str | None,
) -> None:
    def build(seq: int) -> IllSupplierMessage:
        return IllSupplierMessage(
            transaction_id=transaction_id,
            seq=seq,
            supplier=lib.code,
            status=reply.status,
            reason=reply.reason,
            answer=reply.answer,
            item_id=reply.item_id,
            barcode=reply.barcode,
            due_date=reply.due_date,
            loan_terms=reply.loan_terms,
            refusal=reply.refusal,
            charge=reply.charge,
            charge_kind=reply.charge_kind,
            charge_rule=reply.charge_rule,
            note=reply.note,
            occurred_at=lib.now(),
        )

    await to_broker(conn, lib, transaction_id, build, causation_id=causation_id)
