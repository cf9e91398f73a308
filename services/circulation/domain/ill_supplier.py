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
        "return_shipped": (OUT, S.RETURN_SHIPPED),
        # Checked in after the requester said it shipped it back, or when it simply arrives.
        "check_in": ((*OUT, S.RETURN_SHIPPED), S.LOAN_COMPLETED),
        "cancel": (BEFORE_SHIPPING, S.CANCELLED),
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
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a requester's message does: a step of :data:`LENDING` (None: the state stays),
    an answer, facts to keep (``remember``: which date to store), or a refusal."""

    step: str | None = None
    reply: Reply | None = None
    remember: Literal["received_on", "checked_out_on"] | None = None
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
        if state in OUT:
            return Outcome(step="return_shipped")
        return _refused(state, action, ": the item is not on loan to the requester")
    if action in ("Received", "CheckedOut"):
        # Recorded, not a state of the lender: the copy is on loan either way. The checkout
        # date starts the minimum use period a recall must leave the patron (HKALL-11).
        if state in OUT:
            return Outcome(remember="received_on" if action == "Received" else "checked_out_on")
        return _refused(state, action, ": the item has not been shipped to the requester")
    if action == "Notification":
        return Outcome()
    return _refused(state, action, ": this lender does not handle it (yet)")


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
