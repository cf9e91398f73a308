"""The requester's side of an inter-library loan (ILL.md, "Requester (home library)"), as pure
code: the states, the transition table, and what each broker message or local action does.

Every function takes the transaction as it is and returns either a :class:`Transition` (the
new state, the message to send the broker, the notice owed to the patron, whether the held
quota is given back, and the facts the message brought) or a :class:`Refused` saying why the
event is illegal now. Nothing is read or written here; the handler loads, asks, and saves.

The broker's messages map to events like this:

* ``IllRouting(lender=X)`` → ExpectToSupply (X is asked); ``IllRouting`` with no lender →
  Routing (the broker is still finding one); ``IllRouting(end_of_rota)`` → Unfilled: the
  quota is given back and the patron gets ``ill_unfilled``.
* ``IllSupplierMessage``: WillSupply → WillSupply; Loaned (with the loan terms, the lender's
  item id, barcode and due date) → Shipped; Cancelled, or a CancelResponse answered yes →
  Cancelled (quota back, ``ill_cancelled``); a CancelResponse answered no → the state its
  status says (the lender goes on); LoanCompleted → Completed (quota back); Unfilled and
  Overdue are recorded as notes (the broker's ``IllRouting`` says what happens next).

``CancelRequested`` is this federation's addition: the patron or staff asked to cancel and
the answer has not come yet. Messages that move the request on meanwhile are taken in (the
lender asked, the lender accepts); a Loaned means the cancel came too late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from libs.common.contracts.ill import (
    ErrorType,
    IllRouting,
    IllSupplierMessage,
    RequesterAction,
)
from libs.common.states import StateMachine


class RequesterState(StrEnum):
    REQUESTED = "Requested"
    ROUTING = "Routing"
    EXPECT_TO_SUPPLY = "ExpectToSupply"
    WILL_SUPPLY = "WillSupply"
    SHIPPED = "Shipped"
    AWAITING_PICKUP = "AwaitingPickup"
    CHECKED_OUT = "CheckedOut"
    RETURNED = "Returned"
    SHIPPED_RETURN = "ShippedReturn"
    COMPLETED = "Completed"
    NOT_PICKED_UP = "NotPickedUp"
    UNFILLED = "Unfilled"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELLED = "Cancelled"
    LOST = "Lost"
    CLAIMED_RETURNED = "ClaimedReturned"
    COMPLETED_WITHOUT_RETURN = "CompletedWithoutReturn"


S = RequesterState
#: before the lender ships: the patron or staff may still cancel
BEFORE_SHIPPING = (S.REQUESTED, S.ROUTING, S.EXPECT_TO_SUPPLY, S.WILL_SUPPLY)
#: no step leaves these; the quota is back
FINISHED = (S.COMPLETED, S.UNFILLED, S.CANCELLED, S.COMPLETED_WITHOUT_RETURN)
#: the patron's loan of the lender's item is still out (lost or claimed returned: until the
#: lender's charge or check-in settles it)
LOAN_OUT = (S.CHECKED_OUT, S.LOST, S.CLAIMED_RETURNED)
#: the lender has shipped: the item is here, with the patron, or on its way back
AFTER_SHIPPING = (
    S.SHIPPED,
    S.AWAITING_PICKUP,
    S.CHECKED_OUT,
    S.RETURNED,
    S.NOT_PICKED_UP,
    S.SHIPPED_RETURN,
    S.LOST,
    S.CLAIMED_RETURNED,
)
#: what a lender answers a cancel with once the item has left it
_SHIPPED_STATUSES = ("Loaned", "Overdue", "Recalled")
#: states in which a request holds quota without a loan of its own (HKALL-08, HKALL-09,
#: MALA-02): from the request until the lender checks the item in, except while the patron
#: has it out (then the loan itself counts)
HOLDS_QUOTA_WITHOUT_LOAN = tuple(s for s in S if s not in (*FINISHED, *LOAN_OUT))

REQUESTER = StateMachine.of(
    "ill requester",
    RequesterState,
    {
        # broker: routing
        "routing": ((S.REQUESTED, S.ROUTING, S.EXPECT_TO_SUPPLY), S.ROUTING),
        "lender_asked": ((S.REQUESTED, S.ROUTING, S.EXPECT_TO_SUPPLY), S.EXPECT_TO_SUPPLY),
        "end_of_rota": (
            (S.REQUESTED, S.ROUTING, S.EXPECT_TO_SUPPLY, S.WILL_SUPPLY, S.CANCEL_REQUESTED),
            S.UNFILLED,
        ),
        # lender, through the broker
        "will_supply": ((S.EXPECT_TO_SUPPLY,), S.WILL_SUPPLY),
        "loaned": ((S.EXPECT_TO_SUPPLY, S.WILL_SUPPLY, S.CANCEL_REQUESTED), S.SHIPPED),
        "cancelled": ((*BEFORE_SHIPPING, S.CANCEL_REQUESTED), S.CANCELLED),
        "cancel_refused_expect": ((S.CANCEL_REQUESTED,), S.EXPECT_TO_SUPPLY),
        "cancel_refused_will_supply": ((S.CANCEL_REQUESTED,), S.WILL_SUPPLY),
        # the request moves on while the patron's cancel waits for its answer
        "while_cancelling": ((S.CANCEL_REQUESTED,), S.CANCEL_REQUESTED),
        # The lender may check the item in before our ShippedReturn message reaches it; a
        # check-in also settles a claim that the item was returned, or a loss reported
        # before the lender charged it (it was found).
        "loan_completed": (
            (S.RETURNED, S.NOT_PICKED_UP, S.SHIPPED_RETURN, S.CLAIMED_RETURNED, S.LOST),
            S.COMPLETED,
        ),
        # HKALL-13, MALA-05: the lender's answer to a renewal asked of it
        "renewal_answered": ((S.CHECKED_OUT,), S.CHECKED_OUT),
        # HKALL-20, MALA-11: the lender charged the lost item; the loan ends with the charge
        "charged": ((S.LOST,), S.COMPLETED_WITHOUT_RETURN),
        # local actions (staff, patron, the pickup job)
        "cancel": (BEFORE_SHIPPING, S.CANCEL_REQUESTED),
        "receive": ((S.SHIPPED,), S.AWAITING_PICKUP),
        "checkout": ((S.AWAITING_PICKUP,), S.CHECKED_OUT),
        "pickup_expired": ((S.AWAITING_PICKUP,), S.NOT_PICKED_UP),
        # a copy reported lost that turns up at the desk before the lender charged it
        "returned": ((S.CHECKED_OUT, S.CLAIMED_RETURNED, S.LOST), S.RETURNED),
        "ship_back": ((S.RETURNED, S.NOT_PICKED_UP), S.SHIPPED_RETURN),
        # HKALL-13, MALA-05: the patron asks; the lender decides
        "renew": ((S.CHECKED_OUT,), S.CHECKED_OUT),
        # reported by staff or the patron, or the assumed-lost job (HKALL-19, MALA-09)
        "lost": ((S.CHECKED_OUT, S.CLAIMED_RETURNED), S.LOST),
        "claimed_returned": ((S.CHECKED_OUT,), S.CLAIMED_RETURNED),
    },
)

#: messages that are only noted in the history, in the states where they make sense
_NOTES: dict[str, tuple[RequesterState, ...]] = {
    # a lender declined: the broker's IllRouting says who is asked next
    "Unfilled": (S.REQUESTED, S.ROUTING, S.EXPECT_TO_SUPPLY, S.WILL_SUPPLY, S.CANCEL_REQUESTED),
    "ExpectToSupply": (S.EXPECT_TO_SUPPLY, S.CANCEL_REQUESTED),
    "Overdue": (S.AWAITING_PICKUP, S.CHECKED_OUT, S.LOST, S.CLAIMED_RETURNED),
}


@dataclass(frozen=True)
class Transition:
    """What an event does: from ``state`` to ``to`` by ``step``, with its consequences."""

    step: str
    state: RequesterState
    to: RequesterState
    event: str
    send: RequesterAction | None = None
    notice: str | None = None
    release_quota: bool = False
    #: facts the message brought, for the transaction's row (lender, item, due date, terms)
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """An event illegal in ``state``: never applied; the broker is told with ``error_type``."""

    state: RequesterState
    event: str
    reason: str
    error_type: ErrorType = "UnsupportedActionType"


Outcome = Transition | Refused


def _take(
    state: RequesterState, step: str, event: str, **consequences: Any
) -> Transition | Refused:
    if state not in REQUESTER.sources(step):
        return Refused(state, event, f"{event} is not possible in state {state.value}")
    return Transition(step, state, REQUESTER.target(step), event, **consequences)


def _note(state: RequesterState, event: str) -> Transition:
    return Transition("note", state, state, event)


def on_routing(state: RequesterState | str, msg: IllRouting) -> Outcome:
    """The broker says where the request stands: a lender asked, still looking, or nobody
    left (Unfilled: the quota is given back and the patron told, ILL.md)."""
    state = S(state)
    if msg.end_of_rota:
        return _take(
            state, "end_of_rota", "routing:end_of_rota", notice="ill_unfilled", release_quota=True
        )
    if state is S.CANCEL_REQUESTED:
        updates = {"lender": msg.lender} if msg.lender else {}
        event = f"routing:{msg.lender}" if msg.lender else "routing"
        return _take(state, "while_cancelling", event, updates=updates)
    if msg.lender:
        return _take(state, "lender_asked", f"routing:{msg.lender}", updates={"lender": msg.lender})
    return _take(state, "routing", "routing")


def _loaned(state: RequesterState, msg: IllSupplierMessage, event: str) -> Outcome:
    terms = msg.loan_terms
    missing = [
        name
        for name, value in (
            ("loan_terms", terms),
            ("item_id", msg.item_id),
            ("barcode", msg.barcode),
        )
        if value is None
    ]
    if missing:
        return Refused(
            state,
            event,
            f"a Loaned message must carry {', '.join(missing)}",
            "UnrecognisedDataValue",
        )
    assert terms is not None
    return _take(
        state,
        "loaned",
        event,
        updates={
            "lender": msg.supplier,
            "lender_item_id": msg.item_id,
            "lender_barcode": msg.barcode,
            # The lender's terms decide the due date, never the home policy (ILL.md).
            "due_date": msg.due_date or terms.due_date,
            "loan_terms": terms.model_dump(mode="json"),
        },
    )


def on_supplier(state: RequesterState | str, msg: IllSupplierMessage) -> Outcome:
    """What the lender said, forwarded by the broker."""
    state = S(state)
    event = f"supplier:{msg.status}" + (f":{msg.answer}" if msg.answer else "")
    cancelled = dict(notice="ill_cancelled", release_quota=True)
    if msg.reason == "CancelResponse":
        if msg.answer == "yes" or msg.status == "Cancelled":
            return _take(state, "cancelled", event, **cancelled)
        # The lender goes on: the request is where the lender's status says.
        if state in AFTER_SHIPPING and msg.status in _SHIPPED_STATUSES:
            # The lender's Loaned came first (it shipped as the cancel crossed it): the
            # answer only confirms the cancel came too late.
            return _note(state, event)
        if state is not S.CANCEL_REQUESTED:
            return Refused(state, event, f"no cancel is pending in state {state.value}")
        if msg.status == "Loaned":
            return _loaned(state, msg, event)
        by_status = {
            "ExpectToSupply": "cancel_refused_expect",
            "WillSupply": "cancel_refused_will_supply",
        }
        if msg.status not in by_status:
            return Refused(
                state,
                event,
                f"a cancel answered no with status {msg.status} says nothing this library can "
                "act on",
                "UnrecognisedDataValue",
            )
        return _take(state, by_status[msg.status], event, updates={"lender": msg.supplier})
    if msg.reason == "RenewResponse":
        return _renewal_answer(state, msg, event)
    if msg.status == "Recalled":
        return _recalled(state, msg, event)
    if msg.status == "CompletedWithoutReturn":
        return _charged(state, msg, event, "charged")
    if msg.charge is not None:
        # A damaged item's charge (HKALL-20, MALA-11): posted to the patron; the loan and
        # the request go on as they are.
        return _charged(state, msg, event, "note")
    if msg.status == "WillSupply":
        if state is S.CANCEL_REQUESTED:
            return _take(state, "while_cancelling", event, updates={"lender": msg.supplier})
        return _take(state, "will_supply", event, updates={"lender": msg.supplier})
    if msg.status == "Loaned":
        return _loaned(state, msg, event)
    if msg.status == "Cancelled":
        return _take(state, "cancelled", event, **cancelled)
    if msg.status == "LoanCompleted":
        return _take(state, "loan_completed", event, release_quota=True)
    if msg.status in _NOTES:
        if state in _NOTES[msg.status]:
            return _note(state, event)
        return Refused(state, event, f"{event} is not possible in state {state.value}")
    return Refused(state, event, f"{msg.status} ({msg.reason}) is not handled by this library")


def _renewal_answer(state: RequesterState, msg: IllSupplierMessage, event: str) -> Outcome:
    """HKALL-13, MALA-05: yes with the new due date, or no with the rule; the patron is
    e-mailed either way. Only the loan out with the patron is renewed."""
    if state is not S.CHECKED_OUT:
        return Refused(state, event, f"no renewal can be answered in state {state.value}")
    if msg.answer == "yes":
        if msg.due_date is None:
            return Refused(
                state,
                event,
                "a renewal answered yes must carry the new due date",
                "UnrecognisedDataValue",
            )
        return _take(
            state,
            "renewal_answered",
            event,
            notice="renewal_approved",
            updates={"renewal_state": "approved", "due_date": msg.due_date},
        )
    refusal = msg.refusal
    return _take(
        state,
        "renewal_answered",
        event,
        notice="renewal_denied",
        updates={
            "renewal_state": "denied",
            "renewal_rule": refusal.rule if refusal else None,
            "renewal_reason": (refusal.reason if refusal else "the lending library said no")[:500],
        },
    )


def _recalled(state: RequesterState, msg: IllSupplierMessage, event: str) -> Outcome:
    """HKALL-11, MALA-06: the lender recalls its item: the due date it gives (never later
    than the current one) and the recalled fine rate from now on; the patron is e-mailed at
    once. Once the item is on its way back, there is nothing left to recall."""
    if state not in (S.SHIPPED, S.AWAITING_PICKUP, *LOAN_OUT):
        if state in AFTER_SHIPPING:
            return _note(state, event)
        return Refused(state, event, f"{event} is not possible in state {state.value}")
    if msg.due_date is None:
        return Refused(
            state, event, "a recall must carry the date to return by", "UnrecognisedDataValue"
        )
    return Transition(
        "note",
        state,
        state,
        event,
        notice="recall" if state in LOAN_OUT else None,
        updates={"recalled_on": msg.occurred_at.date(), "due_date": msg.due_date},
    )


def _charged(state: RequesterState, msg: IllSupplierMessage, event: str, step: str) -> Outcome:
    """The lender's charge for a lost (HKALL-20, MALA-11: then the request completes without
    a return) or damaged item: posted to the patron by the handler."""
    charge = msg.charge
    if charge is None:
        return Refused(
            state, event, "a charge message must carry the charge", "UnrecognisedDataValue"
        )
    updates = {
        "charge_minor": charge.amount_minor,
        "charge_currency": charge.currency,
        "charge_kind": msg.charge_kind or ("lost_item" if step == "charged" else "damaged_item"),
        "charge_rule": msg.charge_rule,
    }
    if step == "note":
        if state not in (S.CHECKED_OUT, S.RETURNED, S.SHIPPED_RETURN, S.COMPLETED):
            return Refused(state, event, f"a damage charge is not possible in state {state.value}")
        return Transition("note", state, state, event, notice="ill_charged", updates=updates)
    return _take(state, step, event, notice="ill_charged", release_quota=True, updates=updates)


def on_broker(state: RequesterState | str, msg: IllRouting | IllSupplierMessage) -> Outcome:
    if isinstance(msg, IllRouting):
        return on_routing(state, msg)
    return on_supplier(state, msg)


_ACTIONS: dict[str, RequesterAction | None] = {
    "cancel": "Cancel",
    "receive": "Received",
    "checkout": "CheckedOut",
    "pickup_expired": None,
    "returned": None,
    "ship_back": "ShippedReturn",
    "renew": "Renew",
    "lost": "Lost",
    "claimed_returned": "ClaimedReturned",
}
#: actions that tell the lender something and change no state here
_TELLING: dict[str, tuple[tuple[RequesterState, ...], RequesterAction, str]] = {
    # reported at the desk, with the item in hand or still with the patron
    "damaged": (
        (S.CHECKED_OUT, S.RETURNED, S.SHIPPED_RETURN),
        "Damaged",
        "a damaged item can be reported only while it is on loan or on its way back",
    ),
    # MALA-13: the patron paid the lender's charge here; the broker's ledger records it
    "charge_paid": (
        (S.COMPLETED_WITHOUT_RETURN, S.COMPLETED, S.CHECKED_OUT, S.RETURNED, S.SHIPPED_RETURN),
        "ChargePaid",
        "there is no charge of the lender's on this request",
    ),
}
_NOTICES: dict[str, str | None] = {
    # HKALL-05: e-mailed when the book arrives at the pickup point
    "receive": "ill_arrived",
    # HKALL-06: a book not picked up goes back with no further notice to the requester
    "pickup_expired": None,
}


def on_action(state: RequesterState | str, action: str) -> Outcome:
    """A staff, patron or job action on the transaction (``cancel``, ``receive``,
    ``checkout``, ``pickup_expired``, ``returned``, ``ship_back``, ``renew``, ``lost``,
    ``claimed_returned``; ``damaged`` and ``charge_paid`` only tell the lender)."""
    state = S(state)
    if action in _TELLING:
        states, message, why = _TELLING[action]
        if state not in states:
            return Refused(state, action, f"{why} (the request is {state.value})")
        return Transition("note", state, state, action, send=message)
    if action not in _ACTIONS:
        raise KeyError(f"no requester action {action!r}")
    outcome = _take(state, action, action, send=_ACTIONS[action], notice=_NOTICES.get(action))
    if isinstance(outcome, Refused):
        words = {
            "cancel": "the request can be cancelled only before the lender ships it",
            "receive": "only an item the lender has shipped can be received",
            "checkout": "only an item waiting for pickup can be checked out",
            "ship_back": "only a returned or uncollected item can be shipped back",
            "renew": "only an item the patron has out can be renewed",
            "lost": "only an item the patron has out can be reported lost",
            "claimed_returned": "only an item the patron has out can be claimed returned",
        }
        reason = words.get(action, outcome.reason)
        return Refused(state, action, f"{reason} (the request is {state.value})")
    return outcome


def replay(
    events: list[IllRouting | IllSupplierMessage], start: RequesterState = S.REQUESTED
) -> RequesterState:
    """The state a sequence of broker messages leads to, refused ones changing nothing (what
    the handler does with them one at a time)."""
    state = start
    for msg in events:
        outcome = on_broker(state, msg)
        if isinstance(outcome, Transition):
            state = outcome.to
    return state


def is_open(state: RequesterState | str) -> bool:
    return S(state) not in FINISHED


def pickup_overdue(pickup_by: date | None, today: date) -> bool:
    """HKALL-06: past the last pickup day, the book goes back to the lender."""
    return pickup_by is not None and today > pickup_by
