"""Where a reserved copy goes when its reservation ends, decided with the queue: to the next
reader waiting (on the pickup shelf), or back on the shelf."""

from __future__ import annotations

from datetime import date

from services.circulation.domain.holds import HoldQueue
from tests.unit.circulation.builders import hk

ON = date(2026, 3, 2)


def queue_with(*patrons: str) -> HoldQueue:
    queue = HoldQueue(title_id="T1")
    for minute, patron_id in enumerate(patrons):
        queue = queue.place(patron_id, pickup_location="kpl", at=hk(2026, 3, 1, 9, minute)).queue
    return queue


def ready_for_first(hkpl, *patrons: str) -> HoldQueue:
    return queue_with(*patrons).assign_returned_copy(hkpl, "I1", at=hk(2026, 3, 2), on=ON).queue


def test_a_copy_given_to_a_reader_goes_on_the_pickup_shelf(hkpl):
    change = queue_with("alice").assign_returned_copy(hkpl, "I1", at=hk(2026, 3, 2), on=ON)
    assert change.copies == {"I1": "ON_HOLD_SHELF"}
    assert queue_with().assign_returned_copy(hkpl, "I1", at=hk(2026, 3, 2), on=ON).copies == {}


def test_cancelling_a_ready_hold_passes_the_copy_to_the_next_reader(hkpl):
    queue = ready_for_first(hkpl, "alice", "bob")
    alice = next(h for h in queue.holds if h.patron_id == "alice")
    change = queue.cancel_and_pass_on(hkpl, alice.hold_id, at=hk(2026, 3, 3), on=date(2026, 3, 3))
    cancelled, passed = change.holds
    assert cancelled.status == "cancelled"
    assert passed.patron_id == "bob" and passed.status == "ready" and passed.item_id == "I1"
    assert change.copies == {}  # it stays on the pickup shelf, now for bob


def test_cancelling_the_last_ready_hold_puts_the_copy_back_on_the_shelf(hkpl):
    queue = ready_for_first(hkpl, "alice")
    (alice,) = queue.holds
    change = queue.cancel_and_pass_on(hkpl, alice.hold_id, at=hk(2026, 3, 3), on=date(2026, 3, 3))
    assert [h.status for h in change.holds] == ["cancelled"]
    assert change.copies == {"I1": "AVAILABLE"}


def test_cancelling_a_waiting_hold_moves_no_copy(hkpl):
    queue = ready_for_first(hkpl, "alice", "bob")
    bob = next(h for h in queue.holds if h.patron_id == "bob")
    change = queue.cancel_and_pass_on(hkpl, bob.hold_id, at=hk(2026, 3, 3), on=date(2026, 3, 3))
    assert [h.status for h in change.holds] == ["cancelled"]
    assert change.copies == {}


def test_an_expired_pickup_goes_to_the_next_reader_or_back_on_the_shelf(hkpl):
    late = date(2026, 4, 30)
    passed = ready_for_first(hkpl, "alice", "bob").expire(hkpl, at=hk(2026, 4, 30), on=late)
    assert passed.copies == {}
    assert any(h.patron_id == "bob" and h.status == "ready" for h in passed.queue.holds)
    shelved = ready_for_first(hkpl, "alice").expire(hkpl, at=hk(2026, 4, 30), on=late)
    assert [h.status for h in shelved.holds] == ["expired"]
    assert shelved.copies == {"I1": "AVAILABLE"}
