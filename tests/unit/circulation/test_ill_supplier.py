"""The lender's state machine (ILL.md, "Supplier"), every state against every requester
action, and the copy it supplies (HKALL-02, HKALL-01, MALA-03)."""

from __future__ import annotations

from typing import get_args

import pytest

from libs.common.contracts.ill import RequesterAction
from libs.common.states import IllegalTransition
from services.circulation.domain.ill_lending_copies import check_copy, choose_copy
from services.circulation.domain.ill_supplier import (
    LENDING,
    OUT,
    STATUS_OF,
    LendingConflict,
    LendingState,
    on_requester_action,
    patron_refusal,
    staff_step,
)
from services.circulation.domain.items import Item

S = LendingState


def test_the_happy_path_runs_from_request_to_completed_loan():
    state = S.REQUEST_RECEIVED
    for step in ("will_supply", "ship", "return_shipped", "check_in"):
        state = LENDING.step(state, step)
    assert state is S.LOAN_COMPLETED


def test_the_ends_are_completed_unfilled_and_cancelled():
    ends = set(LENDING.terminal())
    assert {S.LOAN_COMPLETED, S.UNFILLED, S.CANCELLED} <= ends
    # Overdue and Recalled have no step into them yet, but every step out of Loaned leaves them.
    assert S.LOANED not in ends and S.OVERDUE not in ends and S.RECALLED not in ends


@pytest.mark.parametrize("state", list(LendingState))
@pytest.mark.parametrize("step", sorted(LENDING.steps))
def test_staff_steps_are_allowed_exactly_where_the_table_says(state, step):
    if state in LENDING.sources(step):
        assert staff_step(state, step) is LENDING.target(step)
    else:
        with pytest.raises(LendingConflict, match=f"not possible in state {state.value}"):
            staff_step(state, step)
        with pytest.raises(IllegalTransition):
            LENDING.step(state, step)


def test_a_copy_is_shipped_only_once_accepted():
    with pytest.raises(LendingConflict, match="only from WillSupply"):
        staff_step(S.REQUEST_RECEIVED, "ship")


@pytest.mark.parametrize("state", [S.REQUEST_RECEIVED, S.WILL_SUPPLY])
def test_a_cancel_before_shipping_is_answered_yes_and_cancels(state):
    outcome = on_requester_action(state, "Cancel")
    assert outcome.step == "cancel" and outcome.refused is None
    assert outcome.reply is not None
    assert (outcome.reply.status, outcome.reply.reason, outcome.reply.answer) == (
        "Cancelled",
        "CancelResponse",
        "yes",
    )


@pytest.mark.parametrize("state", [*OUT, S.RETURN_SHIPPED, S.LOAN_COMPLETED])
def test_a_cancel_after_shipping_is_answered_no_and_changes_nothing(state):
    outcome = on_requester_action(state, "Cancel")
    assert outcome.step is None and outcome.reply is not None
    assert outcome.reply.answer == "no" and outcome.reply.reason == "CancelResponse"
    assert outcome.reply.status == STATUS_OF[state]


@pytest.mark.parametrize("state", [S.CANCELLED, S.UNFILLED])
def test_a_cancel_of_a_closed_request_is_answered_yes_without_a_step(state):
    outcome = on_requester_action(state, "Cancel")
    assert outcome.step is None and outcome.reply is not None and outcome.reply.answer == "yes"


@pytest.mark.parametrize("state", list(LendingState))
@pytest.mark.parametrize("action", get_args(RequesterAction))
def test_every_action_in_every_state_is_applied_or_refused_never_both(state, action):
    outcome = on_requester_action(state, action)
    if outcome.refused is not None:
        assert outcome.step is None and outcome.reply is None and outcome.remember is None
        assert state.value in outcome.refused
    if outcome.step is not None:
        assert state in LENDING.sources(outcome.step)


@pytest.mark.parametrize("state", list(LendingState))
def test_shipped_return_moves_a_loaned_copy_and_is_refused_otherwise(state):
    outcome = on_requester_action(state, "ShippedReturn")
    # a copy reported lost and found by the requester before it was charged comes back too
    if state in (*OUT, LendingState.LOST):
        assert outcome.step == "return_shipped"
    else:
        assert outcome.refused is not None and outcome.step is None


@pytest.mark.parametrize("state", list(LendingState))
def test_received_and_checked_out_are_kept_without_a_state_change_hkall_11(state):
    for action, kept in (("Received", "received_on"), ("CheckedOut", "checked_out_on")):
        outcome = on_requester_action(state, action)
        if state in OUT:
            assert outcome.step is None and outcome.remember == kept
        else:
            assert outcome.refused is not None


def _item(n: int, status: str = "AVAILABLE", material: str = "book", **extra) -> Item:
    return Item(
        item_id=f"i{n}",
        library="hku",
        barcode=f"B{n}",
        title_id="t",
        status=status,  # type: ignore[arg-type]
        material_type=material,  # type: ignore[arg-type]
        **extra,
    )


def test_the_first_available_copy_is_supplied(hkall):
    choice = choose_copy(hkall, [_item(1, "ON_LOAN"), _item(2), _item(3)])
    assert choice.item is not None and choice.item.item_id == "i2" and choice.refusal is None


def test_no_available_copy_is_unfilled_naming_hkall_02(hkall):
    choice = choose_copy(hkall, [_item(1, "ON_LOAN"), _item(2, "MISSING")])
    assert choice.item is None and choice.refusal is not None
    assert choice.refusal.rule == "HKALL-02"
    assert "ON_LOAN, not AVAILABLE" in choice.refusal.reason
    assert choose_copy(hkall, []).refusal.rule == "HKALL-02"  # type: ignore[union-attr]


def test_material_not_lent_is_unfilled_naming_mala_03_and_hkall_01(hkall, mala):
    reference = [_item(1, material="reference")]
    mala_refusal = choose_copy(mala, reference).refusal
    assert mala_refusal is not None and mala_refusal.rule == "MALA-03"
    assert "reference books cannot be borrowed through MALA" in mala_refusal.reason
    hkall_refusal = choose_copy(hkall, [_item(1, material="media")]).refusal
    assert hkall_refusal is not None and hkall_refusal.rule == "HKALL-01"


def test_a_lendable_copy_on_loan_explains_better_than_material_never_lent_hkall_02(hkall):
    refusal = choose_copy(hkall, [_item(1, material="serial"), _item(2, "ON_LOAN")]).refusal
    assert refusal is not None and refusal.rule == "HKALL-02"


def test_a_staff_chosen_copy_must_be_available_and_lendable(mala):
    assert check_copy(mala, _item(1)) is None
    assert check_copy(mala, _item(1, material="thesis")).rule == "MALA-03"  # type: ignore[union-attr]
    unavailable = check_copy(mala, _item(1, "ON_LOAN"))
    assert unavailable is not None and unavailable.rule is None  # MALA names no rule for it
    disc = _item(2, material="book_with_disc", set_id="s", main_item_id="i1")
    assert check_copy(mala, disc) is not None  # goes only with its book


def test_only_eligible_patrons_of_the_lenders_consortium_hkall_08_mala_01(hkall, mala):
    assert patron_refusal(hkall, category="student", consortium="HKALL") is None
    assert patron_refusal(hkall, category="alumni", consortium="HKALL").rule == "HKALL-08"  # type: ignore[union-attr]
    assert patron_refusal(mala, category="student", consortium="HKALL").rule == "MALA-01"  # type: ignore[union-attr]
