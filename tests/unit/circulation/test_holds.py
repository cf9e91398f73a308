"""Reservation queues: first come first served, pickup shelf, fee at collection."""

from __future__ import annotations

from datetime import date

import pytest

from services.circulation.domain.errors import DuplicateHold, HoldNotReady
from services.circulation.domain.holds import (
    HoldQueue,
    reservation_blocks_renewal,
    reservation_state,
)
from tests.unit.circulation.builders import hk


def queue_with(*patrons: str) -> HoldQueue:
    queue = HoldQueue(title_id="T1")
    for minute, patron_id in enumerate(patrons):
        queue = queue.place(patron_id, pickup_location="kpl", at=hk(2026, 3, 1, 9, minute)).queue
    return queue


def test_queue_is_first_come_first_served():
    queue = queue_with("alice", "bob", "carol")
    assert [h.patron_id for h in queue.waiting()] == ["alice", "bob", "carol"]
    assert queue.position("bob") == 2
    assert queue.position("dave") is None


def test_same_time_keeps_the_order_of_arrival():
    queue = HoldQueue(title_id="T1")
    for patron_id in ("x", "y"):
        queue = queue.place(patron_id, pickup_location="kpl", at=hk(2026, 3, 1)).queue
    assert [h.patron_id for h in queue.waiting()] == ["x", "y"]


def test_a_patron_reserves_a_title_once():
    with pytest.raises(DuplicateHold):
        queue_with("alice").place("alice", pickup_location="kpl", at=hk(2026, 3, 2))


def test_returned_copy_goes_to_the_first_waiting_patron(hkpl):
    change = queue_with("alice", "bob").assign_returned_copy(
        hkpl, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2)
    )
    hold = change.hold
    assert hold.patron_id == "alice"
    assert hold.status == "ready" and hold.item_id == "copy-1"
    assert hold.pickup_by == date(2026, 3, 9)  # HKPL pickup shelf: 7 days, configurable
    assert change.events[0].kind == "hold.ready"
    assert change.queue.position("bob") == 1


def test_no_one_waiting_leaves_the_copy_free(hkpl):
    change = HoldQueue(title_id="T1").assign_returned_copy(
        hkpl, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2)
    )
    assert change.hold is None and change.events == ()


def test_hkall_06_five_days_to_pick_up_from_the_notice(hkall):
    change = queue_with("alice").assign_returned_copy(
        hkall, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2)
    )
    assert change.hold.pickup_by == date(2026, 3, 7)


def test_hkall_06_not_collected_in_time_goes_back_without_passing_on(hkall):
    ready = (
        queue_with("alice", "bob")
        .assign_returned_copy(hkall, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2))
        .queue
    )
    assert ready.expire(hkall, at=hk(2026, 3, 7), on=date(2026, 3, 7)).holds == ()
    change = ready.expire(hkall, at=hk(2026, 3, 8), on=date(2026, 3, 8), pass_on=False)
    assert [h.status for h in change.holds] == ["expired"]
    assert change.queue.position("bob") == 1  # bob still waits; the copy returns to its lender


def test_expired_local_hold_passes_the_copy_to_the_next_patron(hkpl):
    ready = (
        queue_with("alice", "bob")
        .assign_returned_copy(hkpl, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2))
        .queue
    )
    change = ready.expire(hkpl, at=hk(2026, 3, 10), on=date(2026, 3, 10))
    assert [e.kind for e in change.events] == ["hold.expired", "hold.ready"]
    bob = next(h for h in change.queue.holds if h.patron_id == "bob")
    assert bob.status == "ready" and bob.item_id == "copy-1"


def test_hkpl_11_reservation_fee_charged_at_collection(hkpl):
    ready = (
        queue_with("alice")
        .assign_returned_copy(hkpl, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2))
        .queue
    )
    change = ready.collect(hkpl, "alice", "copy-1", at=hk(2026, 3, 4), on=date(2026, 3, 4))
    assert change.fee is not None
    assert change.fee.kind == "reservation_fee"
    assert change.fee.amount.amount_minor == 330
    assert change.fee.rule == "HKPL-11"
    assert change.hold.status == "collected"


def test_hkpl_11_no_fee_before_collection_and_none_in_hkall(hkpl, hkall):
    placed = queue_with("alice")
    assert all(h.status == "waiting" for h in placed.holds)
    ready = placed.assign_returned_copy(hkall, "c", at=hk(2026, 3, 2), on=date(2026, 3, 2))
    change = ready.queue.collect(hkall, "alice", "c", at=hk(2026, 3, 3), on=date(2026, 3, 3))
    assert change.fee is None


def test_collection_by_someone_else_or_too_late_is_refused(hkpl):
    ready = (
        queue_with("alice")
        .assign_returned_copy(hkpl, "copy-1", at=hk(2026, 3, 2), on=date(2026, 3, 2))
        .queue
    )
    with pytest.raises(HoldNotReady):
        ready.collect(hkpl, "bob", "copy-1", at=hk(2026, 3, 3), on=date(2026, 3, 3))
    with pytest.raises(HoldNotReady, match="deadline"):
        ready.collect(hkpl, "alice", "copy-1", at=hk(2026, 3, 12), on=date(2026, 3, 12))


def test_cancel_a_hold():
    queue = queue_with("alice", "bob")
    hold_id = queue.waiting()[0].hold_id
    change = queue.cancel(hold_id, at=hk(2026, 3, 2))
    assert change.queue.position("bob") == 1
    with pytest.raises(HoldNotReady):
        change.queue.cancel(hold_id, at=hk(2026, 3, 2))


def test_hkpl_03_reservation_blocks_renewal_only_without_another_copy(hkpl):
    queue = queue_with("bob")
    assert reservation_blocks_renewal(hkpl, queue, "alice", other_copy_available=False)
    assert not reservation_blocks_renewal(hkpl, queue, "alice", other_copy_available=True)
    # the borrower's own reservation does not block them
    assert not reservation_blocks_renewal(
        hkpl, queue_with("alice"), "alice", other_copy_available=False
    )
    assert not reservation_blocks_renewal(hkpl, None, "alice", other_copy_available=False)


def test_hkall_12_any_hold_by_a_local_user_blocks(hkall):
    assert reservation_blocks_renewal(hkall, queue_with("bob"), "alice", other_copy_available=True)


def test_reservation_state_for_the_policy_engine():
    state = reservation_state(queue_with("bob"), "alice", other_copy_available=False)
    assert state.hold_by_other and not state.other_copy_available
