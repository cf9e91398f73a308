"""The broker's transition table and its decisions, exhaustively and by property: every
message in every state either takes a step the table allows or is refused, never anything
else; routing picks the least-loaded eligible lender and never one of another consortium
(MALA-07), the requester or a skipped one."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from libs.common.contracts import IllRequesterMessage, IllSupplierMessage
from libs.common.contracts.ill import IllPatron, IllRecord, IllRequest
from services.requests.domain.broker import (
    MACHINE,
    TERMINAL,
    Attempt,
    BrokerState,
    Decision,
    Refusal,
    TransactionView,
    from_requester,
    from_supplier,
    lender_timed_out,
    new_transaction,
    routed,
)
from services.requests.domain.routing import (
    Candidate,
    choose_lender,
    pseudonym,
    rotation_seed,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
STATUSES = [
    "ExpectToSupply",
    "WillSupply",
    "Unfilled",
    "Loaned",
    "Overdue",
    "Recalled",
    "LoanCompleted",
    "Cancelled",
]
REASONS = ["RequestResponse", "StatusChange", "RenewResponse", "CancelResponse", "Notification"]
ACTIONS = [
    "Received",
    "CheckedOut",
    "ShippedReturn",
    "Cancel",
    "Renew",
    "Lost",
    "ClaimedReturned",
    "Damaged",
    "StatusRequest",
    "Notification",
]
FLAGS = ["cancel_pending", "renewal_pending", "lost", "claimed_returned", "overdue"]


def view(state: BrokerState, flags=(), lender: str | None = "hku") -> TransactionView:
    tried = (Attempt("hkbu", "declined", NOW), Attempt("hku", "asked", NOW)) if lender else ()
    return TransactionView(
        id="t-1",
        requester="eduhk",
        consortium="HKALL",
        state=state,
        lender=lender if state not in (BrokerState.Routing, BrokerState.Requested) else None,
        tried=tried,
        flags=frozenset(flags),
        asked_at=NOW,
    )


def supplier_msg(status, reason, answer=None, supplier="hku"):
    return IllSupplierMessage(
        transaction_id="t-1",
        seq=1,
        supplier=supplier,
        status=status,
        reason=reason,
        answer=answer,
        occurred_at=NOW,
    )


def requester_msg(action, note=None):
    return IllRequesterMessage(
        transaction_id="t-1", seq=1, requester="eduhk", action=action, occurred_at=NOW, note=note
    )


def _legal(before: TransactionView, decision: Decision) -> None:
    after = decision.view
    if decision.step is None:
        assert after.state == before.state
    else:
        assert MACHINE.step(before.state, decision.step) == after.state


def test_the_table_has_the_states_of_ill_md():
    assert set(TERMINAL) == {
        BrokerState.LoanCompleted,
        BrokerState.Unfilled,
        BrokerState.Cancelled,
        BrokerState.CompletedWithoutReturn,
    }
    assert MACHINE.can_move("Routing", "ExpectToSupply")
    assert MACHINE.can_move("ExpectToSupply", "Routing")
    path = [
        "Requested",
        "Routing",
        "ExpectToSupply",
        "WillSupply",
        "Loaned",
        "Received",
        "CheckedOut",
        "ShippedReturn",
        "LoanCompleted",
    ]
    assert all(MACHINE.can_move(a, b) for a, b in itertools.pairwise(path))
    assert not MACHINE.can_move("Loaned", "Cancelled")  # no cancel after shipping


@given(
    st.sampled_from(list(BrokerState)),
    st.sampled_from(STATUSES),
    st.sampled_from(REASONS),
    st.sampled_from([None, "yes", "no"]),
    st.sets(st.sampled_from(FLAGS)),
)
def test_a_lender_message_takes_an_allowed_step_or_is_refused(state, status, reason, answer, flags):
    before = view(state, flags)
    verdict = from_supplier(before, "hku", supplier_msg(status, reason, answer), NOW)
    if isinstance(verdict, Refusal):
        assert verdict.reason
        return
    assert state not in TERMINAL
    _legal(before, verdict)
    if verdict.route:
        assert verdict.view.state == BrokerState.Routing and verdict.view.lender is None
        assert "hku" in verdict.view.skipped
    else:
        assert all(s.to == "eduhk" for s in verdict.sends)  # passed on to the requester


@given(
    st.sampled_from(list(BrokerState)),
    st.sampled_from(ACTIONS),
    st.sets(st.sampled_from(FLAGS)),
)
def test_a_requester_message_takes_an_allowed_step_or_is_refused(state, action, flags):
    before = view(state, flags)
    verdict = from_requester(before, "eduhk", requester_msg(action), NOW)
    if isinstance(verdict, Refusal):
        return
    assert state not in TERMINAL
    _legal(before, verdict)
    for s in verdict.sends:
        if s.to == "eduhk":  # only the broker's own answer to a Cancel before any lender
            assert action == "Cancel" and verdict.view.state == BrokerState.Cancelled
        else:
            assert s.to == before.lender


@given(
    st.sampled_from(list(BrokerState)),
    st.sampled_from(ACTIONS),
    st.sets(st.sampled_from(FLAGS)),
    st.text(min_size=1, max_size=80),
)
def test_no_free_text_of_the_requester_reaches_a_lender(state, action, flags, note):
    # privacy (ILL.md): a note could name the patron; the lender must never hold it
    verdict = from_requester(view(state, flags), "eduhk", requester_msg(action, note), NOW)
    if isinstance(verdict, Refusal):
        return
    for s in verdict.sends:
        if s.to != "eduhk":
            assert s.payload.note is None


@given(st.sampled_from(list(BrokerState)), st.sampled_from(STATUSES))
def test_nobody_but_the_asked_lender_moves_the_transaction(state, status):
    before = view(state)
    for sender in ("cuhk", "hkbu"):  # never asked; skipped
        verdict = from_supplier(
            before, sender, supplier_msg(status, "RequestResponse", supplier=sender), NOW
        )
        if isinstance(verdict, Decision):
            assert verdict.record_only and verdict.view == before
            assert sender == "hkbu"
            assert [s.to for s in verdict.sends] in ([], ["hkbu"])
    assert isinstance(from_requester(before, "cityu", requester_msg("Cancel"), NOW), Refusal)


def test_a_late_will_supply_from_a_skipped_lender_is_answered_with_a_cancel():
    verdict = from_supplier(
        view(BrokerState.ExpectToSupply),
        "hkbu",
        supplier_msg("WillSupply", "RequestResponse", supplier="hkbu"),
        NOW,
    )
    assert isinstance(verdict, Decision) and verdict.record_only
    [send] = verdict.sends
    assert send.to == "hkbu" and send.payload.action == "Cancel"


@given(st.integers(min_value=0, max_value=200))
def test_the_lender_is_cancelled_exactly_when_its_hours_are_up(hours_later):
    before = view(BrokerState.ExpectToSupply)
    decision = lender_timed_out(before, NOW + timedelta(hours=hours_later), 48)
    if hours_later < 48:
        assert decision is None
        return
    assert decision is not None and decision.route
    [send] = decision.sends
    assert send.to == "hku" and send.payload.action == "Cancel"
    assert ("hku", "no_answer") in [(a.lender, a.outcome) for a in decision.view.tried]


LIBRARIES = {
    "cityu": "HKALL",
    "hkbu": "HKALL",
    "hku": "HKALL",
    "cuhk": "HKALL",
    "eduhk": "HKALL",
    "um": "MALA",
    "mpu": "MALA",
    "usj": "MALA",
    "kwnc": "MALA",
}


@given(
    st.sets(st.sampled_from(sorted(LIBRARIES)), min_size=0),
    st.dictionaries(st.sampled_from(sorted(LIBRARIES)), st.integers(0, 5)),
    st.sets(st.sampled_from(sorted(LIBRARIES))),
    st.integers(0, 10**9),
    st.sampled_from(sorted(LIBRARIES)),
)
def test_MALA_07_routing_asks_the_least_loaded_member_of_the_requesters_consortium(
    holders, counts, skipped, seed, requester
):
    """MALA-07: only members of the requester's consortium are asked."""
    consortium = LIBRARIES[requester]
    candidates = [Candidate(lib, LIBRARIES[lib], (f"{lib}-1",)) for lib in sorted(holders)]
    chosen = choose_lender(
        candidates, counts, skipped, seed, requester=requester, consortium=consortium
    )
    pool = [
        c for c in holders if LIBRARIES[c] == consortium and c != requester and c not in skipped
    ]
    if not pool:
        assert chosen is None
        return
    assert chosen is not None and chosen.library in pool
    assert counts.get(chosen.library, 0) == min(counts.get(c, 0) for c in pool)


def test_ties_are_broken_by_a_start_that_rotates():
    candidates = [Candidate(lib, "HKALL", ()) for lib in ("cuhk", "hkbu", "hku")]
    firsts = {
        choose_lender(
            candidates, {}, set(), rotation_seed(f"t-{i}", 0), requester="eduhk", consortium="HKALL"
        ).library  # type: ignore[union-attr]
        for i in range(30)
    }
    assert firsts == {"cuhk", "hkbu", "hku"}


@given(
    st.text(min_size=8, max_size=64),
    st.sampled_from(sorted(LIBRARIES)),
    st.sampled_from(sorted(LIBRARIES)),
)
def test_each_lender_gets_its_own_patron_reference(ref, a, b):
    assert len(pseudonym(ref, a)) == 32
    assert (pseudonym(ref, a) == pseudonym(ref, b)) == (a == b)


def test_a_routed_request_carries_the_lenders_items_and_its_pseudonym():
    request = IllRequest(
        transaction_id="t-1",
        seq=1,
        requester="eduhk",
        pickup_location="main",
        patron=IllPatron(ref="p-0123456789", category="student", consortium="HKALL"),
        record=IllRecord(record_id=1, title="x"),
        requested_at=NOW,
    )
    start = new_transaction(request, "HKALL")
    assert isinstance(start, Decision) and start.view.state == BrokerState.Routing
    decision = routed(start.view, Candidate("hku", "HKALL", ("hku-1", "hku-2")), request, NOW)
    to_lender, to_requester = decision.sends
    assert to_lender.to == "hku" and to_lender.payload.supplier == "hku"
    assert to_lender.payload.lender_items == ["hku-1", "hku-2"]
    assert to_lender.payload.patron.ref == pseudonym("p-0123456789", "hku")
    assert to_requester.to == "eduhk" and to_requester.payload.lender == "hku"
    assert isinstance(new_transaction(request, "MALA"), Refusal)


def test_a_lender_that_cannot_supply_while_a_cancel_waits_ends_in_cancelled_not_routing():
    # The patron's Cancel crossed the lender's Unfilled: asking the next lender would lose it.
    before = view(BrokerState.ExpectToSupply, flags={"cancel_pending"})
    verdict = from_supplier(before, "hku", supplier_msg("Unfilled", "RequestResponse"), NOW)
    assert isinstance(verdict, Decision) and not verdict.route
    assert verdict.view.state == BrokerState.Cancelled and verdict.view.lender is None
    assert "hku" in verdict.view.skipped and "cancel_pending" not in verdict.view.flags
    [answer] = verdict.sends
    assert answer.to == "eduhk"
    assert (answer.payload.status, answer.payload.reason, answer.payload.answer) == (
        "Cancelled",
        "CancelResponse",
        "yes",
    )
    # The lender's own answer to the Cancel, coming later, changes nothing.
    late = from_supplier(
        verdict.view, "hku", supplier_msg("Unfilled", "CancelResponse", "yes"), NOW
    )
    assert isinstance(late, Decision) and late.record_only


def test_a_lender_silent_while_a_cancel_waits_is_not_followed_by_another_lender():
    before = view(BrokerState.ExpectToSupply, flags={"cancel_pending"})
    decision = lender_timed_out(before, NOW + timedelta(hours=48), 48)
    assert decision is not None and not decision.route
    assert decision.view.state == BrokerState.Cancelled
    assert [s.to for s in decision.sends] == ["eduhk"]


@given(st.sampled_from([BrokerState.Loaned, BrokerState.Received, BrokerState.CheckedOut]))
def test_the_lenders_check_in_completes_the_loan_before_the_requesters_shipped_return(state):
    # ILL.md: the lender's check-in completes the loan, whatever the broker heard before
    verdict = from_supplier(view(state), "hku", supplier_msg("LoanCompleted", "StatusChange"), NOW)
    assert isinstance(verdict, Decision)
    assert verdict.view.state == BrokerState.LoanCompleted
    assert [s.to for s in verdict.sends] == ["eduhk"]
    # The requester's ShippedReturn, arriving after, is refused: nothing is left to ship.
    late = from_requester(verdict.view, "eduhk", requester_msg("ShippedReturn"), NOW)
    assert isinstance(late, Refusal)
