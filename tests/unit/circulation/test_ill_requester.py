"""The requester's ILL state machine (ILL.md "Requester"), on its own: every broker message
and local action from every state, what each sends, owes and gives back, and that reordered
and repeated broker messages, applied in seq order, end where the ordered sequence does."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.common.contracts.ill import IllRouting, IllSupplierMessage, LoanTerms
from libs.common.ill.ordering import releasable, verdict
from services.circulation.domain.ill_requester import (
    FINISHED,
    HOLDS_QUOTA_WITHOUT_LOAN,
    REQUESTER,
    Refused,
    RequesterState,
    Transition,
    on_action,
    on_broker,
    pickup_overdue,
    replay,
)

S = RequesterState
TXN = "5f0c7a52-3f2e-4f64-9a43-0b7c2b1d9e11"
AT = datetime(2026, 12, 1, 2, tzinfo=UTC)
TERMS = LoanTerms(
    due_date=date(2026, 12, 16),
    loan_days=15,
    renewal_needs_approval=True,
    currency="HKD",
    fine_per_day_minor=200,
)


def routing(seq: int, **fields) -> IllRouting:
    return IllRouting(transaction_id=TXN, seq=seq, **fields)


def supplier(seq: int, status: str, reason: str = "StatusChange", **fields) -> IllSupplierMessage:
    return IllSupplierMessage(
        transaction_id=TXN,
        seq=seq,
        supplier=fields.pop("supplier", "hku"),
        status=status,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
        occurred_at=AT,
        **fields,
    )


def loaned(seq: int) -> IllSupplierMessage:
    return supplier(
        seq,
        "Loaned",
        item_id="hku-1",
        barcode="HKU0001",
        due_date=TERMS.due_date,
        loan_terms=TERMS,
    )


def test_the_happy_path_runs_from_requested_to_completed():
    state = S.REQUESTED
    for msg, expected in [
        (routing(1, lender="hku"), S.EXPECT_TO_SUPPLY),
        (supplier(2, "WillSupply", "RequestResponse"), S.WILL_SUPPLY),
        (loaned(3), S.SHIPPED),
    ]:
        outcome = on_broker(state, msg)
        assert isinstance(outcome, Transition) and outcome.to is expected
        state = outcome.to
    sent = []
    for action, expected in [
        ("receive", S.AWAITING_PICKUP),
        ("checkout", S.CHECKED_OUT),
        ("returned", S.RETURNED),
        ("ship_back", S.SHIPPED_RETURN),
    ]:
        outcome = on_action(state, action)
        assert isinstance(outcome, Transition) and outcome.to is expected
        sent.append(outcome.send)
        state = outcome.to
    assert sent == ["Received", "CheckedOut", None, "ShippedReturn"]
    done = on_broker(state, supplier(4, "LoanCompleted"))
    assert isinstance(done, Transition) and done.to is S.COMPLETED and done.release_quota


def test_loaned_brings_the_lenders_terms_and_due_date_not_the_home_policys():
    outcome = on_broker(S.WILL_SUPPLY, loaned(3))
    assert isinstance(outcome, Transition)
    assert outcome.updates["due_date"] == date(2026, 12, 16)
    assert outcome.updates["loan_terms"]["loan_days"] == 15
    assert (outcome.updates["lender_item_id"], outcome.updates["lender_barcode"]) == (
        "hku-1",
        "HKU0001",
    )


def test_a_loaned_message_without_terms_is_refused_as_bad_data():
    outcome = on_broker(S.WILL_SUPPLY, supplier(3, "Loaned", item_id="x", barcode="y"))
    assert isinstance(outcome, Refused) and outcome.error_type == "UnrecognisedDataValue"
    assert "loan_terms" in outcome.reason


def test_end_of_rota_is_unfilled_with_the_quota_back_and_the_patron_told():
    outcome = on_broker(S.EXPECT_TO_SUPPLY, routing(2, end_of_rota=True))
    assert isinstance(outcome, Transition)
    assert (outcome.to, outcome.notice, outcome.release_quota) == (
        S.UNFILLED,
        "ill_unfilled",
        True,
    )


def test_routing_without_a_lender_is_still_routing_and_a_declining_lender_is_a_note():
    assert on_broker(S.REQUESTED, routing(1)).to is S.ROUTING  # type: ignore[union-attr]
    note = on_broker(S.EXPECT_TO_SUPPLY, supplier(2, "Unfilled", "RequestResponse"))
    assert isinstance(note, Transition) and note.to is S.EXPECT_TO_SUPPLY and note.step == "note"


def test_cancel_before_shipping_waits_for_the_answer():
    outcome = on_action(S.WILL_SUPPLY, "cancel")
    assert isinstance(outcome, Transition)
    assert (outcome.to, outcome.send, outcome.release_quota) == (
        S.CANCEL_REQUESTED,
        "Cancel",
        False,
    )
    yes = on_broker(S.CANCEL_REQUESTED, supplier(3, "Cancelled", "CancelResponse", answer="yes"))
    assert isinstance(yes, Transition)
    assert (yes.to, yes.notice, yes.release_quota) == (S.CANCELLED, "ill_cancelled", True)


def test_a_cancel_answered_no_goes_back_to_what_the_lender_says():
    no = on_broker(S.CANCEL_REQUESTED, supplier(3, "WillSupply", "CancelResponse", answer="no"))
    assert isinstance(no, Transition) and no.to is S.WILL_SUPPLY and not no.release_quota
    late = on_broker(S.CANCEL_REQUESTED, loaned(3))
    assert isinstance(late, Transition) and late.to is S.SHIPPED


def test_a_cancel_that_crossed_the_shipment_is_answered_no_and_only_noted():
    # The lender shipped as the cancel reached it: Loaned came first, then "no" to the cancel.
    shipped = on_broker(S.CANCEL_REQUESTED, loaned(3))
    assert isinstance(shipped, Transition) and shipped.to is S.SHIPPED
    for state in (S.SHIPPED, S.AWAITING_PICKUP, S.CHECKED_OUT):
        no = on_broker(state, supplier(4, "Loaned", "CancelResponse", answer="no"))
        # a note, not a refusal answered with ill.error: nothing is wrong with the answer
        assert isinstance(no, Transition) and no.to is state and not no.release_quota
    assert isinstance(
        on_broker(S.ROUTING, supplier(4, "Loaned", "CancelResponse", answer="no")), Refused
    )


def test_cancel_after_shipping_is_refused():
    for state in (S.SHIPPED, S.AWAITING_PICKUP, S.CHECKED_OUT):
        outcome = on_action(state, "cancel")
        assert isinstance(outcome, Refused) and "before the lender ships" in outcome.reason


def test_not_picked_up_sends_nothing_and_owes_no_notice_HKALL_06():
    outcome = on_action(S.AWAITING_PICKUP, "pickup_expired")
    assert isinstance(outcome, Transition)
    assert (outcome.to, outcome.send, outcome.notice) == (S.NOT_PICKED_UP, None, None)
    back = on_action(S.NOT_PICKED_UP, "ship_back")
    assert isinstance(back, Transition) and back.to is S.SHIPPED_RETURN
    assert pickup_overdue(date(2026, 12, 6), date(2026, 12, 7))
    assert not pickup_overdue(date(2026, 12, 6), date(2026, 12, 6))


def test_receiving_owes_the_arrival_notice_HKALL_05():
    outcome = on_action(S.SHIPPED, "receive")
    assert isinstance(outcome, Transition) and outcome.notice == "ill_arrived"


def test_finished_states_take_no_step_and_hold_no_quota():
    assert set(REQUESTER.terminal()) == set(FINISHED)
    assert not set(FINISHED) & set(HOLDS_QUOTA_WITHOUT_LOAN)
    assert S.CHECKED_OUT not in HOLDS_QUOTA_WITHOUT_LOAN  # its loan counts instead


ALL_MESSAGES = [
    routing(1),
    routing(1, lender="hku"),
    routing(1, end_of_rota=True),
    supplier(1, "WillSupply", "RequestResponse"),
    loaned(1),
    supplier(1, "Cancelled", "CancelResponse", answer="yes"),
    supplier(1, "WillSupply", "CancelResponse", answer="no"),
    supplier(1, "LoanCompleted"),
    supplier(1, "Unfilled", "RequestResponse"),
    supplier(1, "Recalled"),
]


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=lambda m: f"{type(m).__name__}")
def test_every_message_in_every_state_is_a_table_move_or_a_refusal(state, msg):
    outcome = on_broker(state, msg)
    if isinstance(outcome, Transition):
        assert outcome.state is state
        if outcome.step != "note":
            assert state in REQUESTER.sources(outcome.step)
            assert outcome.to is REQUESTER.target(outcome.step)
    else:
        assert isinstance(outcome, Refused) and outcome.state is state and outcome.reason
    if state in FINISHED:
        assert isinstance(outcome, Refused)


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize(
    "action", ["cancel", "receive", "checkout", "pickup_expired", "returned", "ship_back"]
)
def test_every_action_in_every_state_is_a_table_move_or_a_refusal(state, action):
    outcome = on_action(state, action)
    allowed = state in REQUESTER.sources(action)
    assert isinstance(outcome, Transition) is allowed


# -------------------------------------------------------------------------------------------
# Reordered and repeated delivery (what handlers/ill_messages.from_broker does, in memory)


def deliver(state: RequesterState, arrivals: list) -> RequesterState:
    """Apply broker messages as they arrive, the way ``libs.common.ill.sequence.receive``
    does: next seq applied (and the parked ones it releases), a later one parked, a repeated
    one ignored."""
    last, parked = 0, {}
    for msg in arrivals:
        outcome = verdict(last, msg.seq)
        if outcome == "duplicate":
            continue
        if outcome == "park":
            parked[msg.seq] = msg
            continue
        for m in [msg, *(parked.pop(s) for s in releasable(msg.seq, parked))]:
            result = on_broker(state, m)
            if isinstance(result, Transition):
                state = result.to
            last = m.seq
    return state


def _sequences():
    happy = [
        routing(1, lender="hkbu"),
        supplier(2, "Unfilled", "RequestResponse", supplier="hkbu"),
        routing(3, lender="hku", previous="hkbu", previous_outcome="declined"),
        supplier(4, "WillSupply", "RequestResponse"),
        loaned(5),
    ]
    unfilled = [routing(1, lender="hkbu"), routing(2, end_of_rota=True)]
    return st.sampled_from([happy, unfilled])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), sequence=_sequences())
def test_reordered_and_repeated_messages_end_where_the_ordered_sequence_does(data, sequence):
    expected = replay(sequence)
    repeats = data.draw(st.lists(st.sampled_from(sequence), max_size=6))
    arrivals = data.draw(st.permutations([*sequence, *repeats]))
    assert deliver(S.REQUESTED, arrivals) is expected


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_cancel_crossing_the_lenders_answers_ends_the_same_whatever_the_order(data):
    sequence = [
        routing(1, lender="hku"),
        supplier(2, "WillSupply", "RequestResponse"),
        supplier(3, "Cancelled", "CancelResponse", answer="yes"),
    ]
    start = on_action(S.REQUESTED, "cancel")
    assert isinstance(start, Transition)
    arrivals = data.draw(st.permutations(sequence + data.draw(st.lists(st.sampled_from(sequence)))))
    assert deliver(start.to, arrivals) is replay(sequence, start.to) is S.CANCELLED
