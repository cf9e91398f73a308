"""The broker's view of an ILL transaction (ILL.md, states: broker), as pure code.

A transition table (:data:`MACHINE`) and the functions that decide what one message does to a
transaction: ``(transaction view, envelope sender, payload) -> Decision | Refusal``. A
decision names the step taken (or none: a message that only sets a flag or is passed on),
the transaction's new shape, and the messages to send (to which library, what). A refusal
names why; the caller records it and answers the sender with ``ill.error``, never applying
the message. Nothing here reads a clock, a database or the bus.

Overdue, recalled, renewal-pending and cancel-pending are flags on a transaction, not
states. A message from a lender that was already skipped is not applied; a late WillSupply
from it is answered with a Cancel, so that lender releases its copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from libs.common.contracts.ill import (
    ErrorType,
    IllPatron,
    IllRequest,
    IllRequesterMessage,
    IllRouting,
    IllSupplierMessage,
)
from libs.common.states import IllegalTransition, StateMachine
from services.requests.domain.routing import Candidate, pseudonym

#: who speaks for the broker on the bus, and in a message the broker answers itself
BROKER = "requests"


class BrokerState(StrEnum):
    Requested = "Requested"
    Routing = "Routing"
    ExpectToSupply = "ExpectToSupply"
    WillSupply = "WillSupply"
    Loaned = "Loaned"
    Received = "Received"
    CheckedOut = "CheckedOut"
    ShippedReturn = "ShippedReturn"
    LoanCompleted = "LoanCompleted"
    Unfilled = "Unfilled"
    Cancelled = "Cancelled"
    CompletedWithoutReturn = "CompletedWithoutReturn"


S = BrokerState
#: the item is out at the requester's side (or on its way back)
ON_LOAN = (S.Loaned, S.Received, S.CheckedOut, S.ShippedReturn)
#: a lender holds the request (asked, or accepted) and has not shipped yet
WITH_LENDER = (S.ExpectToSupply, S.WillSupply)

MACHINE = StateMachine.of(
    "ill broker",
    BrokerState,
    {
        "route": ([S.Requested], S.Routing),
        "ask_lender": ([S.Routing], S.ExpectToSupply),
        "lender_declined": (WITH_LENDER, S.Routing),
        "lender_silent": ([S.ExpectToSupply], S.Routing),
        "end_of_rota": ([S.Requested, S.Routing], S.Unfilled),
        "will_supply": ([S.ExpectToSupply], S.WillSupply),
        "shipped": ([S.WillSupply], S.Loaned),
        "received": ([S.Loaned], S.Received),
        "checked_out": ([S.Received], S.CheckedOut),
        # from Received too: an item not picked up goes back unread (HKALL-06)
        "shipped_return": ([S.Received, S.CheckedOut], S.ShippedReturn),
        # The lender's check-in completes the loan (ILL.md), also when it comes before the
        # requester's ShippedReturn: the lender holds the item, its word is the last.
        "loan_completed": (ON_LOAN, S.LoanCompleted),
        "completed_without_return": (ON_LOAN, S.CompletedWithoutReturn),
        "cancelled": ([S.Requested, S.Routing, *WITH_LENDER], S.Cancelled),
    },
)
TERMINAL = frozenset(MACHINE.terminal())
#: every lending transaction that still occupies its lender (routing spreads these)
OPEN_LENDING = (*WITH_LENDER, *ON_LOAN)

Outcome = Literal["asked", "supplying", "declined", "no_answer", "cancelled"]
#: a lender with one of these outcomes is never asked again on the transaction
SKIPPED: frozenset[str] = frozenset({"declined", "no_answer"})


@dataclass(frozen=True)
class Attempt:
    """One lender asked on the transaction, and how it went."""

    lender: str
    outcome: Outcome
    asked_at: datetime
    answered_at: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "lender": self.lender,
            "outcome": self.outcome,
            "asked_at": self.asked_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Attempt:
        answered = data.get("answered_at")
        return cls(
            lender=data["lender"],
            outcome=data["outcome"],
            asked_at=datetime.fromisoformat(data["asked_at"]),
            answered_at=datetime.fromisoformat(answered) if answered else None,
        )


@dataclass(frozen=True)
class TransactionView:
    """What the broker knows of one transaction."""

    id: str
    requester: str
    consortium: str
    state: BrokerState
    lender: str | None = None
    tried: tuple[Attempt, ...] = ()
    flags: frozenset[str] = frozenset()
    asked_at: datetime | None = None

    @property
    def skipped(self) -> frozenset[str]:
        return frozenset(a.lender for a in self.tried if a.outcome in SKIPPED)

    @property
    def previous(self) -> Attempt | None:
        """The last lender skipped, for the requester's routing message."""
        done = [a for a in self.tried if a.outcome in SKIPPED]
        return done[-1] if done else None

    def with_outcome(self, lender: str, outcome: Outcome, at: datetime) -> tuple[Attempt, ...]:
        return tuple(
            replace(a, outcome=outcome, answered_at=at)
            if a.lender == lender and a.outcome in ("asked", "supplying")
            else a
            for a in self.tried
        )


@dataclass(frozen=True)
class Send:
    """A message to one library. Its ``seq`` is numbered when it is sent (the broker counts
    per transaction per recipient)."""

    to: str
    payload: BaseModel


@dataclass(frozen=True)
class Decision:
    """What a message (or a job) does to the transaction."""

    view: TransactionView
    step: str | None = None
    sends: tuple[Send, ...] = ()
    #: find the next lender now (the caller asks the catalogue, then :func:`routed`)
    route: bool = False
    #: not applied to the transaction: only recorded (a late word from a skipped lender)
    record_only: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Refusal:
    reason: str
    error_type: ErrorType = "UnsupportedActionType"


Verdict = Decision | Refusal


def _take(view: TransactionView, step: str, **changes) -> TransactionView:
    return replace(view, state=MACHINE.step(view.state, step), **changes)


def _flags(
    view: TransactionView, add: Iterable[str] = (), drop: Iterable[str] = ()
) -> frozenset[str]:
    return frozenset((view.flags | set(add)) - set(drop))


# -- the request ------------------------------------------------------------------------------


def new_transaction(request: IllRequest, requester_consortium: str) -> Verdict:
    """A requester's new request: accepted into Routing (the caller routes it at once), or
    refused. The patron's consortium is the requester's own (MALA-07): a library cannot ask
    through a consortium it is not a member of."""
    if request.patron.consortium != requester_consortium:
        return Refusal(
            f"MALA-07: {request.requester} is a member of {requester_consortium}, not "
            f"{request.patron.consortium}; requests go through its own consortium",
            "UnrecognisedDataValue",
        )
    view = TransactionView(
        id=request.transaction_id,
        requester=request.requester,
        consortium=requester_consortium,
        state=S.Requested,
    )
    return Decision(_take(view, "route"), step="route", route=True)


def request_for_lender(request: IllRequest, lender: Candidate) -> IllRequest:
    """The request as the lender gets it: addressed to it, with its copies of the record by
    the catalogue, and a patron reference of its own."""
    patron = IllPatron(
        ref=pseudonym(request.patron.ref, lender.library),
        category=request.patron.category,
        consortium=request.patron.consortium,
    )
    return request.model_copy(
        update={"supplier": lender.library, "lender_items": list(lender.item_ids), "patron": patron}
    )


def routed(
    view: TransactionView, lender: Candidate, request: IllRequest, now: datetime
) -> Decision:
    """Ask ``lender``: the request to it, and the requester told who was asked (and why the
    previous one was skipped)."""
    previous = view.previous
    new = _take(
        view,
        "ask_lender",
        lender=lender.library,
        tried=(*view.tried, Attempt(lender.library, "asked", now)),
        asked_at=now,
        flags=_flags(view, drop={"awaiting_catalogue"}),
    )
    routing = IllRouting(
        transaction_id=view.id,
        seq=1,
        lender=lender.library,
        previous=previous.lender if previous else None,
        previous_outcome=_outcome_word(previous),
    )
    return Decision(
        new,
        step="ask_lender",
        sends=(
            Send(lender.library, request_for_lender(request, lender)),
            Send(view.requester, routing),
        ),
        note=f"asked {lender.library}",
    )


def rota_ended(view: TransactionView, reason: str | None = None) -> Decision:
    """Nobody is left to ask: Unfilled; the requester is told it is the end of the rota."""
    previous = view.previous
    new = _take(view, "end_of_rota", lender=None, flags=_flags(view, drop={"awaiting_catalogue"}))
    routing = IllRouting(
        transaction_id=view.id,
        seq=1,
        previous=previous.lender if previous else None,
        previous_outcome=_outcome_word(previous),
        end_of_rota=True,
        reason=(reason or "no other library of the consortium can supply it")[:500],
    )
    return Decision(
        new, step="end_of_rota", sends=(Send(view.requester, routing),), note="end of rota"
    )


def catalogue_away(view: TransactionView) -> Decision:
    """The catalogue could not say who holds the record: the request waits in Routing and is
    retried, it is not failed."""
    return Decision(
        replace(view, flags=_flags(view, add={"awaiting_catalogue"})),
        note="the catalogue is away; routing will be retried",
    )


def _outcome_word(attempt: Attempt | None) -> Literal["declined", "no_answer"] | None:
    if attempt is None:
        return None
    return "declined" if attempt.outcome == "declined" else "no_answer"


# -- timeouts ---------------------------------------------------------------------------------


def answer_due(view: TransactionView, hours: int) -> datetime | None:
    if view.state != S.ExpectToSupply or view.asked_at is None:
        return None
    return view.asked_at + timedelta(hours=hours)


def lender_timed_out(view: TransactionView, now: datetime, hours: int) -> Decision | None:
    """The asked lender has not answered within ``hours``: it is sent a Cancel (so a late
    WillSupply is answered "cancelled") and the next candidate is asked. None when it still
    has time."""
    due = answer_due(view, hours)
    if due is None or now < due or view.lender is None:
        return None
    if "cancel_pending" in view.flags:
        return _cancelled_by_broker(
            view,
            outcome="no_answer",
            at=now,
            why=f"{view.lender} did not answer the cancel within {hours} hours",
        )
    cancel = IllRequesterMessage(
        transaction_id=view.id,
        seq=1,
        requester=view.requester,
        action="Cancel",
        occurred_at=now,
        note=f"no answer within {hours} hours: the request goes to another library",
    )
    new = _take(
        view,
        "lender_silent",
        lender=None,
        asked_at=None,
        tried=view.with_outcome(view.lender, "no_answer", now),
    )
    return Decision(
        new,
        step="lender_silent",
        sends=(Send(view.lender, cancel),),
        route=True,
        note=f"{view.lender} did not answer within {hours} hours",
    )


# -- what a lender says -----------------------------------------------------------------------

_NOTES_ON_LOAN = {"Overdue": "overdue", "Recalled": "recalled"}
_CURRENCY = re.compile("[A-Z]{3}")


def _forward(view: TransactionView, msg: BaseModel, to: str, **changes) -> Decision:
    step = changes.pop("step", None)
    new = _take(view, step, **changes) if step else replace(view, **changes)
    return Decision(new, step=step, sends=(Send(to, msg),))


def _illegal(what: str, view: TransactionView) -> Refusal:
    return Refusal(f"{what} is not possible in state {view.state}")


def from_supplier(
    view: TransactionView, sender: str, msg: IllSupplierMessage, now: datetime
) -> Verdict:
    """A supplier's message: only the lender asked now is heard; what it says moves the
    transaction and is passed on to the requester (an Unfilled is not: the broker asks the
    next lender and tells the requester with ``ill.routing``)."""
    if sender != view.lender:
        return _from_other_lender(view, sender, msg, now)
    try:
        return _from_lender(view, msg, now)
    except IllegalTransition:
        return _illegal(f"{msg.status} ({msg.reason})", view)


def _from_other_lender(
    view: TransactionView, sender: str, msg: IllSupplierMessage, now: datetime
) -> Verdict:
    if sender not in view.skipped and not any(a.lender == sender for a in view.tried):
        return Refusal(
            f"{sender} was not asked to supply this transaction", "UnrecognisedDataValue"
        )
    if sender not in view.skipped:
        return Refusal(f"{sender} no longer holds this request", "UnrecognisedDataValue")
    if msg.status in ("ExpectToSupply", "WillSupply", "Loaned"):
        cancel = IllRequesterMessage(
            transaction_id=view.id,
            seq=1,
            requester=view.requester,
            action="Cancel",
            occurred_at=now,
            note="this request went to another library after no answer in time: cancelled",
        )
        return Decision(
            view,
            sends=(Send(sender, cancel),),
            record_only=True,
            note=f"late {msg.status} from {sender}, already skipped: answered with Cancel",
        )
    return Decision(view, record_only=True, note=f"late {msg.status} from {sender}, skipped")


def _from_lender(view: TransactionView, msg: IllSupplierMessage, now: datetime) -> Verdict:
    lender, to = msg.supplier, view.requester
    if msg.reason == "Notification" and msg.charge is not None and view.state == S.LoanCompleted:
        # HKALL-20, MALA-11: damage found when the lender checked the item in is charged
        # after the loan ended (MALA-13: the home library still owes it); nothing else moves
        if not _CURRENCY.fullmatch(msg.charge.currency):
            return _bad_currency(msg.charge.currency)
        return _forward(view, msg, to)
    if view.state in TERMINAL:
        return _illegal(f"{msg.status} ({msg.reason})", view)
    if msg.charge is not None and not _CURRENCY.fullmatch(msg.charge.currency):
        return _bad_currency(msg.charge.currency)
    if msg.reason == "CancelResponse":
        if "cancel_pending" not in view.flags:
            return Refusal("no cancel was asked of this lender", "UnsupportedReasonForMessageType")
        flags = _flags(view, drop={"cancel_pending"})
        if msg.status == "Cancelled" or msg.answer == "yes":
            return _forward(
                view,
                msg,
                to,
                step="cancelled",
                flags=flags,
                lender=None,
                tried=view.with_outcome(lender, "cancelled", now),
            )
        return _forward(view, msg, to, flags=flags)
    if msg.reason == "RenewResponse":
        if "renewal_pending" not in view.flags:
            return Refusal("no renewal was asked of this lender", "UnsupportedReasonForMessageType")
        return _forward(view, msg, to, flags=_flags(view, drop={"renewal_pending"}))
    if msg.reason == "Notification":
        if msg.charge is not None and view.state not in ON_LOAN:
            # a damage charge is for a copy that was lent (MALA-13: it is owed in the ledger)
            return _illegal("a charge on a copy not lent", view)
        return _forward(view, msg, to)
    status = msg.status
    if status == "ExpectToSupply":
        if view.state != S.ExpectToSupply:
            return _illegal(status, view)
        return _forward(view, msg, to)  # an acknowledgement: the answer is still owed
    if status == "WillSupply":
        tried = view.with_outcome(lender, "supplying", now)
        return _forward(view, msg, to, step="will_supply", tried=tried)
    if status == "Unfilled" and "cancel_pending" in view.flags:
        # The requester asked to cancel: a lender that cannot supply ends the request here;
        # asking the next lender would lose the cancel.
        return _cancelled_by_broker(
            view, outcome="declined", at=now, why=f"{lender} cannot supply; the cancel stands"
        )
    if status == "Unfilled":
        new = _take(
            view,
            "lender_declined",
            lender=None,
            asked_at=None,
            tried=view.with_outcome(lender, "declined", now),
            flags=_flags(view, drop={"cancel_pending"}),
        )
        reason = msg.refusal.reason if msg.refusal else "unfilled"
        return Decision(new, step="lender_declined", route=True, note=f"{lender}: {reason}")
    if status == "Loaned":
        return _forward(view, msg, to, step="shipped")
    if status in _NOTES_ON_LOAN:
        if view.state not in ON_LOAN:
            return _illegal(status, view)
        return _forward(view, msg, to, flags=_flags(view, add={_NOTES_ON_LOAN[status]}))
    if status == "LoanCompleted":
        # checked in: also a copy once reported lost or claimed returned (it was found)
        return _forward(view, msg, to, step="loan_completed")
    if status == "CompletedWithoutReturn":
        # HKALL-20, MALA-11: the lender charged the lost copy; nothing comes back
        if msg.charge is None:
            return Refusal("CompletedWithoutReturn must carry the charge", "UnrecognisedDataValue")
        return _forward(view, msg, to, step="completed_without_return")
    # Cancelled without a cancel asked of it: a lender that cannot supply says Unfilled.
    return Refusal(
        "Cancelled answers a Cancel; a lender that cannot supply says Unfilled",
        "UnsupportedReasonForMessageType",
    )


def _bad_currency(currency: str) -> Refusal:
    # MALA-13: a charge enters the settlement ledger in its currency; one that names none the
    # ledger can add up is refused, not passed on
    return Refusal(
        f"the charge's currency {currency!r} is not an ISO 4217 code", "UnrecognisedDataValue"
    )


def _cancelled_by_broker(
    view: TransactionView, *, outcome: Outcome, at: datetime, why: str
) -> Decision:
    """The requester's pending cancel is answered by the broker itself: the lender holding
    the request declined or fell silent, so nobody else is asked and the request is
    Cancelled; the lender is skipped (a late answer of its own changes nothing)."""
    assert view.lender is not None
    answer = IllSupplierMessage(
        transaction_id=view.id,
        seq=1,
        supplier=BROKER,
        status="Cancelled",
        reason="CancelResponse",
        answer="yes",
        note=why[:500],
        occurred_at=at,
    )
    new = _take(
        view,
        "cancelled",
        lender=None,
        asked_at=None,
        tried=view.with_outcome(view.lender, outcome, at),
        flags=_flags(view, drop={"cancel_pending"}),
    )
    return Decision(new, step="cancelled", sends=(Send(view.requester, answer),), note=why)


# -- what the requester says ------------------------------------------------------------------

#: actions that only set a flag, and where they may be said
_FLAGGING: dict[str, tuple[tuple[BrokerState, ...], str]] = {
    "Renew": ((S.Received, S.CheckedOut), "renewal_pending"),
    "Lost": (ON_LOAN, "lost"),
    "ClaimedReturned": (ON_LOAN, "claimed_returned"),
    "Damaged": ((S.Received, S.CheckedOut, S.ShippedReturn), "damaged"),
}
_STEPS = {"Received": "received", "CheckedOut": "checked_out", "ShippedReturn": "shipped_return"}


def from_requester(
    view: TransactionView, sender: str, msg: IllRequesterMessage, now: datetime
) -> Verdict:
    """The requester's message: passed on to the lender that holds the request. A Cancel
    while nobody holds it is answered by the broker itself."""
    if sender != view.requester:
        return Refusal(f"{sender} is not the requester of this transaction")
    if msg.action == "ChargePaid" and view.state in (S.LoanCompleted, S.CompletedWithoutReturn):
        # MALA-13: the home library collected the lender's charge after the loan ended
        if view.lender is None:
            return Refusal("ChargePaid: no lender holds this request")
        return _forward(view, msg.model_copy(update={"note": None}), view.lender)
    if view.state in TERMINAL:
        return _illegal(msg.action, view)
    # Privacy (ILL.md): a requester's free text could name its patron, and a lender holds
    # no personal data of another library's patron; the note goes no further than here.
    msg = msg.model_copy(update={"note": None})
    action = msg.action
    if action == "Cancel":
        return _cancel(view, msg)
    if view.lender is None:
        return Refusal(f"{action}: no lender holds this request (state {view.state})")
    try:
        if action in _STEPS:
            return _forward(view, msg, view.lender, step=_STEPS[action])
    except IllegalTransition:
        return _illegal(action, view)
    if action in _FLAGGING:
        states, flag = _FLAGGING[action]
        if view.state not in states:
            return _illegal(action, view)
        if flag == "renewal_pending" and flag in view.flags:
            return Refusal("a renewal is already waiting for the lender's answer")
        return _forward(view, msg, view.lender, flags=_flags(view, add={flag}))
    # StatusRequest, Notification: passed on, nothing changes
    return _forward(view, msg, view.lender)


def _cancel(view: TransactionView, msg: IllRequesterMessage) -> Verdict:
    if view.state in (S.Requested, S.Routing):
        answer = IllSupplierMessage(
            transaction_id=view.id,
            seq=1,
            supplier=BROKER,
            status="Cancelled",
            reason="CancelResponse",
            answer="yes",
            note="cancelled before any lender was asked",
            occurred_at=msg.occurred_at,
        )
        new = _take(view, "cancelled", flags=_flags(view, drop={"awaiting_catalogue"}))
        return Decision(new, step="cancelled", sends=(Send(view.requester, answer),))
    if view.state in WITH_LENDER and view.lender is not None:
        if "cancel_pending" in view.flags:
            return Refusal("a cancel is already waiting for the lender's answer")
        return _forward(view, msg, view.lender, flags=_flags(view, add={"cancel_pending"}))
    return _illegal("Cancel", view)


@dataclass(frozen=True)
class Waiting:
    """Who the broker is waiting for in a state, and for how long before it calls the
    transaction stuck."""

    party: Literal["broker", "lender", "requester"]
    hours: int
    what: str = field(default="")


#: the dashboard's thresholds: a transaction with no progress past its state's is stuck
STUCK_AFTER: dict[BrokerState, Waiting] = {
    S.Requested: Waiting("broker", 1, "routing the request"),
    S.Routing: Waiting("broker", 24, "a lender to ask (the catalogue may be away)"),
    # past the lender timeout (lender_answer_hours) the job should have moved it on
    S.ExpectToSupply: Waiting("lender", 72, "the lender's answer"),
    S.WillSupply: Waiting("lender", 7 * 24, "the lender to ship the item"),
    S.Loaned: Waiting("requester", 10 * 24, "the requester to receive the item"),
    S.Received: Waiting("requester", 14 * 24, "the patron to pick the item up"),
    S.CheckedOut: Waiting("requester", 120 * 24, "the item's return"),
    S.ShippedReturn: Waiting("lender", 14 * 24, "the lender to check the item in"),
}


@dataclass(frozen=True)
class Stuck:
    stuck: bool
    waiting_for: str | None
    party: str | None
    since: datetime


def stuck(
    state: BrokerState | str,
    last_progress: datetime,
    now: datetime,
    lender: str | None,
    requester: str,
) -> Stuck:
    """Whether a transaction has made no progress past its state's threshold, and which party
    (library, or the broker itself) it waits for."""
    waiting = STUCK_AFTER.get(BrokerState(state))
    if waiting is None:
        return Stuck(False, None, None, last_progress)
    who = {"broker": BROKER, "lender": lender, "requester": requester}[waiting.party]
    late = now - last_progress > timedelta(hours=waiting.hours)
    return Stuck(late, waiting.what, who, last_progress)
