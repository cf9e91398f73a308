"""The lending library's side of an inter-library loan (ILL.md, "Supplier"), as pure code.

``RequestReceived`` → ``WillSupply`` (its own copy re-checked AVAILABLE and held) or
``Unfilled`` (with the rule or reason) → ``Loaned`` (shipped: the copy is ON_ILL_LOAN to the
requester, the loan terms sent) → ``ReturnShipped`` (the requester said ShippedReturn) →
``LoanCompleted`` (checked in: the copy AVAILABLE again). Side way: ``Cancelled``, the answer
to a Cancel before shipping. ``Overdue`` and ``Recalled`` are states of a loaned copy that
later steps lead into; every step that leaves ``Loaned`` leaves them too.

What the requester says is decided by :func:`on_requester_action`: the step to take (if any),
the answer to send (if any), or why the message is illegal here (refused, never applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from libs.common.contracts.ill import (
    ErrorType,
    IllRefusal,
    IllRequesterMessage,
    LoanTerms,
    Money,
    ReasonForMessage,
    RequesterAction,
    SupplierStatus,
)
from libs.common.policy import Policy
from libs.common.states import StateMachine
from services.circulation.domain.errors import DomainError


class LendingState(StrEnum):
    REQUEST_RECEIVED = "RequestReceived"
    WILL_SUPPLY = "WillSupply"
    UNFILLED = "Unfilled"
    LOANED = "Loaned"
    OVERDUE = "Overdue"
    RECALLED = "Recalled"
    RETURN_SHIPPED = "ReturnShipped"
    LOAN_COMPLETED = "LoanCompleted"
    CANCELLED = "Cancelled"
    LOST = "Lost"
    COMPLETED_WITHOUT_RETURN = "CompletedWithoutReturn"


S = LendingState
#: the copy is with the requester (its patron may have it at home)
OUT: tuple[LendingState, ...] = (S.LOANED, S.OVERDUE, S.RECALLED)
#: nothing has left the shelf yet: a Cancel is still answered yes
BEFORE_SHIPPING: tuple[LendingState, ...] = (S.REQUEST_RECEIVED, S.WILL_SUPPLY)

LENDING = StateMachine.of(
    "ill lending",
    LendingState,
    {
        "will_supply": ((S.REQUEST_RECEIVED,), S.WILL_SUPPLY),
        "unfilled": ((S.REQUEST_RECEIVED,), S.UNFILLED),
        "ship": ((S.WILL_SUPPLY,), S.LOANED),
        # (a copy reported lost, found by the requester before it was charged, too)
        "return_shipped": ((*OUT, S.LOST), S.RETURN_SHIPPED),
        # Checked in after the requester said it shipped it back, or when it simply arrives
        # (a copy reported lost that turns up before it was charged, too).
        "check_in": ((*OUT, S.RETURN_SHIPPED, S.LOST), S.LOAN_COMPLETED),
        "cancel": (BEFORE_SHIPPING, S.CANCELLED),
        # the lender's daily job: past the due date (both sides agree on the loan's standing)
        "overdue": ((S.LOANED,), S.OVERDUE),
        # HKALL-11, MALA-06: its staff, or a hold by one of its own users
        "recall": ((S.LOANED, S.OVERDUE), S.RECALLED),
        # HKALL-12/13, MALA-05: a renewal it approved (an overdue loan is due again later)
        "renew": ((S.LOANED, S.OVERDUE), S.LOANED),
        # the requester reported it lost (HKALL-19/20, MALA-09/11); then charged
        "lost": ((*OUT, S.RETURN_SHIPPED), S.LOST),
        "charge": ((S.LOST,), S.COMPLETED_WITHOUT_RETURN),
    },
)

#: what the requester is told the transaction's status is, in ISO 18626's words
STATUS_OF: dict[LendingState, SupplierStatus] = {
    S.REQUEST_RECEIVED: "ExpectToSupply",
    S.WILL_SUPPLY: "WillSupply",
    S.UNFILLED: "Unfilled",
    S.LOANED: "Loaned",
    S.OVERDUE: "Overdue",
    S.RECALLED: "Recalled",
    S.RETURN_SHIPPED: "Loaned",  # ISO 18626 has no supplier status for a copy on its way back
    S.LOAN_COMPLETED: "LoanCompleted",
    S.CANCELLED: "Cancelled",
    S.LOST: "Loaned",  # still the lender's loan until it is charged
    S.COMPLETED_WITHOUT_RETURN: "CompletedWithoutReturn",
}


class LendingConflict(DomainError):
    """A staff action the lending's current state does not allow (answered 409)."""

    code = "ill_state_conflict"


@dataclass(frozen=True)
class Reply:
    """A message to send to the broker; the handler numbers it and says who and when."""

    status: SupplierStatus
    reason: ReasonForMessage
    answer: Literal["yes", "no"] | None = None
    item_id: str | None = None
    barcode: str | None = None
    due_date: date | None = None
    loan_terms: LoanTerms | None = None
    refusal: IllRefusal | None = None
    charge: Money | None = None
    charge_kind: Literal["lost_item", "damaged_item"] | None = None
    charge_rule: str | None = None
    note: str | None = None


Remembered = Literal["received_on", "checked_out_on", "claimed_returned_on", "charge_paid_on"]


@dataclass(frozen=True)
class Outcome:
    """What a requester's message does: a step of :data:`LENDING` (None: the state stays),
    an answer, facts to keep (``remember``: which date to store), what the handler must
    decide by the policy now (``decide``: a renewal, a lost or damaged copy's charge), or
    a refusal."""

    step: str | None = None
    reply: Reply | None = None
    remember: Remembered | None = None
    decide: Literal["renewal", "lost_charge", "damaged_charge"] | None = None
    refused: str | None = None
    error_type: ErrorType = "UnsupportedActionType"


def _refused(state: LendingState, action: str, why: str = "") -> Outcome:
    return Outcome(refused=f"{action} is not possible in state {state.value}{why}")


def on_cancel(state: LendingState) -> Outcome:
    """ISO 18626's CancelResponse: yes before shipping (the held copy goes back on the
    shelf), no once the copy has left (nothing changes), yes again to a repeated Cancel."""
    if state in BEFORE_SHIPPING:
        return Outcome(
            step="cancel", reply=Reply("Cancelled", "CancelResponse", "yes", note="cancelled")
        )
    if state is S.CANCELLED:
        return Outcome(reply=Reply("Cancelled", "CancelResponse", "yes", note="already cancelled"))
    if state is S.UNFILLED:
        # Nothing is held and the request is closed here: what the Cancel asks for is so.
        return Outcome(
            reply=Reply(
                "Unfilled", "CancelResponse", "yes", note="nothing to cancel: already unfilled"
            )
        )
    return Outcome(
        reply=Reply(
            STATUS_OF[state],
            "CancelResponse",
            "no",
            note="the item has been shipped; it cannot be cancelled, only returned",
        )
    )


def on_requester_action(state: LendingState, action: RequesterAction) -> Outcome:
    """What a RequestingAgencyMessage ``action`` does in ``state``."""
    if action == "Cancel":
        return on_cancel(state)
    if action == "ShippedReturn":
        if state in (*OUT, S.LOST):
            return Outcome(step="return_shipped")
        return _refused(state, action, ": the item is not on loan to the requester")
    if action in ("Received", "CheckedOut"):
        # Recorded, not a state of the lender: the copy is on loan either way. The checkout
        # date starts the minimum use period a recall must leave the patron (HKALL-11).
        if state in OUT:
            return Outcome(remember="received_on" if action == "Received" else "checked_out_on")
        return _refused(state, action, ": the item has not been shipped to the requester")
    if action == "Renew":
        # HKALL-12/13, MALA-05: decided by this library's policy and its own users' holds
        if state in OUT:
            return Outcome(decide="renewal")
        return _refused(state, action, ": the item is not on loan to the requester")
    if action == "Lost":
        if state in (*OUT, S.RETURN_SHIPPED):
            return Outcome(step="lost", decide="lost_charge")
        return _refused(state, action, ": the item is not on loan to the requester")
    if action == "Damaged":
        if state in (*OUT, S.RETURN_SHIPPED, S.LOAN_COMPLETED):
            return Outcome(decide="damaged_charge")
        return _refused(state, action, ": the item has not been lent to the requester")
    if action == "ClaimedReturned":
        # Recorded: the copy stays on loan here until it is checked in or reported lost.
        if state in OUT:
            return Outcome(remember="claimed_returned_on")
        return _refused(state, action, ": the item is not on loan to the requester")
    if action == "ChargePaid":
        # MALA-13: the home library collected this library's charge from its patron.
        if state in (S.COMPLETED_WITHOUT_RETURN, S.LOAN_COMPLETED, *OUT, S.RETURN_SHIPPED):
            return Outcome(remember="charge_paid_on")
        return _refused(state, action, ": nothing was charged on this loan")
    if action == "Notification":
        return Outcome()
    return _refused(state, action, ": this lender does not handle it")


def without_free_text(payload: IllRequesterMessage) -> IllRequesterMessage:
    """The requester's message as a lender may keep it: its ``note`` dropped. Free text is
    what a home library's staff or patron typed, and could name the patron; a lender holds
    no personal data of another library's patron (ILL.md, privacy), not even while the
    message waits parked for its predecessor. Nothing a lender does depends on the note."""
    if payload.note is None:
        return payload
    return payload.model_copy(update={"note": None})


def staff_step(state: LendingState | str, step: str) -> LendingState:
    """The state a staff action leads to, or :class:`LendingConflict` saying why not."""
    current = LendingState(state)
    if current not in LENDING.sources(step):
        allowed = ", ".join(s.value for s in LENDING.sources(step))
        raise LendingConflict(
            f"{step.replace('_', '-')} is not possible in state {current.value} (only from "
            f"{allowed})"
        )
    return LENDING.step(current, step)


def patron_refusal(policy: Policy, *, category: str, consortium: str) -> IllRefusal | None:
    """A lender lends only to eligible users of its own consortium's members, by the
    categories its policy knows (HKALL-08, MALA-01; MALA-07 keeps MALA requests in MALA)."""
    rule = policy.policy.eligibility_rule
    if consortium != policy.policy.consortium:
        return IllRefusal(
            rule=rule,
            reason=f"this library lends through {policy.policy.consortium}, not {consortium}",
        )
    if rule is not None and policy.category(category) is None:
        return IllRefusal(
            rule=rule,
            reason=f"patrons of category {category!r} are not eligible to borrow through "
            f"{policy.policy.consortium}",
        )
    return None
