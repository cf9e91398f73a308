"""Reservations: one first-come, first-served queue per title.

A returned copy goes to the first patron waiting; it waits on the pickup shelf until the
deadline the policy sets (HKALL-06: 5 days from the notice); the reservation fee is charged
when the item is collected (HKPL-11). A waiting reservation by another reader also stops a
renewal when no other copy is available (HKPL-03).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from libs.common.policy import Policy, pickup_deadline, reservation_fee
from services.circulation.domain.base import DomainModel, new_id
from services.circulation.domain.errors import DuplicateHold, HoldNotFound, HoldNotReady
from services.circulation.domain.events import (
    DomainEvent,
    HoldCancelled,
    HoldCollected,
    HoldExpired,
    HoldPlaced,
    HoldReady,
)
from services.circulation.domain.items import ItemStatus
from services.circulation.domain.ledger import LedgerEntry, charge_entry

HoldStatus = Literal["waiting", "ready", "collected", "expired", "cancelled"]


class Hold(DomainModel):
    hold_id: str = Field(default_factory=new_id)
    title_id: str
    patron_id: str
    placed_at: datetime
    sequence: int = Field(default=0, ge=0, description="breaks ties between equal times")
    pickup_location: str
    status: HoldStatus = "waiting"
    item_id: str | None = None
    ready_on: date | None = None
    pickup_by: date | None = None
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status in ("waiting", "ready")


class QueueChange(DomainModel):
    """A queue after an operation, the hold(s) it touched and what happened."""

    queue: HoldQueue
    holds: tuple[Hold, ...] = ()
    fee: LedgerEntry | None = None
    events: tuple[DomainEvent, ...] = ()
    copies: dict[str, ItemStatus] = Field(
        default_factory=dict, description="the copies whose status this changes: their new one"
    )

    @property
    def hold(self) -> Hold | None:
        return self.holds[0] if self.holds else None


class HoldQueue(DomainModel):
    title_id: str
    holds: tuple[Hold, ...] = ()

    def _with(self, *changed: Hold) -> HoldQueue:
        by_id = {h.hold_id: h for h in changed}
        kept = tuple(by_id.pop(h.hold_id, h) for h in self.holds)
        return self.model_copy(update={"holds": kept + tuple(by_id.values())})

    def get(self, hold_id: str) -> Hold:
        for hold in self.holds:
            if hold.hold_id == hold_id:
                return hold
        raise HoldNotFound(f"no hold {hold_id!r} on title {self.title_id!r}")

    def waiting(self) -> list[Hold]:
        """Waiting holds, first come first served."""
        return sorted(
            (h for h in self.holds if h.status == "waiting"),
            key=lambda h: (h.placed_at, h.sequence),
        )

    def position(self, patron_id: str) -> int | None:
        """1 for the next in line; ``None`` when the patron is not waiting."""
        for index, hold in enumerate(self.waiting(), start=1):
            if hold.patron_id == patron_id:
                return index
        return None

    def held_by_other(self, borrower_id: str) -> bool:
        """Whether another reader is waiting for this title."""
        return any(h.patron_id != borrower_id for h in self.waiting())

    def place(
        self,
        patron_id: str,
        *,
        pickup_location: str,
        at: datetime,
        hold_id: str | None = None,
    ) -> QueueChange:
        """Join the end of the queue; a patron holds a title once at a time."""
        if any(h.patron_id == patron_id and h.open for h in self.holds):
            raise DuplicateHold("the patron already has a reservation for this title")
        given: dict[str, Any] = {"hold_id": hold_id} if hold_id else {}
        hold = Hold(
            title_id=self.title_id,
            patron_id=patron_id,
            placed_at=at,
            sequence=len(self.holds),
            pickup_location=pickup_location,
            **given,
        )
        queue = self._with(hold)
        event = HoldPlaced(
            occurred_at=at,
            hold_id=hold.hold_id,
            patron_id=patron_id,
            title_id=self.title_id,
            position=queue.position(patron_id) or 0,
        )
        return QueueChange(queue=queue, holds=(hold,), events=(event,))

    def assign_returned_copy(
        self, policy: Policy, item_id: str, *, at: datetime, on: date
    ) -> QueueChange:
        """Give a returned copy to the first patron waiting, ready for collection until the
        policy's pickup deadline (HKALL-06), on the pickup shelf. No one waiting: nothing
        changes."""
        waiting = self.waiting()
        if not waiting:
            return QueueChange(queue=self)
        first = waiting[0]
        ready = first.model_copy(
            update={
                "status": "ready",
                "item_id": item_id,
                "ready_on": on,
                "pickup_by": pickup_deadline(policy, on),
            }
        )
        event = HoldReady(
            occurred_at=at,
            hold_id=ready.hold_id,
            patron_id=ready.patron_id,
            title_id=self.title_id,
            item_id=item_id,
            pickup_location=ready.pickup_location,
            pickup_by=ready.pickup_by,
        )
        return QueueChange(
            queue=self._with(ready),
            holds=(ready,),
            events=(event,),
            copies={item_id: "ON_HOLD_SHELF"},
        )

    def collect(
        self, policy: Policy, patron_id: str, item_id: str, *, at: datetime, on: date
    ) -> QueueChange:
        """The patron collects the copy kept for them; the reservation fee, if the policy has
        one, is charged now, at collection (HKPL-11: $3.3 per item)."""
        hold = next(
            (h for h in self.holds if h.status == "ready" and h.item_id == item_id),
            None,
        )
        if hold is None or hold.patron_id != patron_id:
            raise HoldNotReady("this copy is not waiting for this patron")
        if hold.pickup_by is not None and on > hold.pickup_by:
            raise HoldNotReady("the pickup deadline has passed")
        collected = hold.model_copy(update={"status": "collected", "closed_at": at})
        fee = reservation_fee(policy)
        entry = None
        if fee is not None and fee.total.amount_minor > 0:
            entry = charge_entry(patron_id, fee, at=at, on=on, item_id=item_id)
        event = HoldCollected(
            occurred_at=at, hold_id=hold.hold_id, patron_id=patron_id, item_id=item_id
        )
        return QueueChange(
            queue=self._with(collected), holds=(collected,), fee=entry, events=(event,)
        )

    def expire(
        self, policy: Policy, *, at: datetime, on: date, pass_on: bool = True
    ) -> QueueChange:
        """Close holds not collected by their deadline. With ``pass_on`` each copy goes to the
        next patron waiting, or back on the shelf when no one waits; a consortium loan is not
        passed on but goes back to its lender with no further notice to the requester
        (HKALL-06)."""
        expired = [
            h.model_copy(update={"status": "expired", "closed_at": at})
            for h in self.holds
            if h.status == "ready" and h.pickup_by is not None and on > h.pickup_by
        ]
        queue = self._with(*expired)
        events: list[DomainEvent] = [
            HoldExpired(
                occurred_at=at, hold_id=h.hold_id, patron_id=h.patron_id, item_id=h.item_id or ""
            )
            for h in expired
        ]
        copies: dict[str, ItemStatus] = {}
        if pass_on:
            for hold in expired:
                if hold.item_id is not None:
                    change = queue.assign_returned_copy(policy, hold.item_id, at=at, on=on)
                    queue = change.queue
                    events += change.events
                    if change.hold is None:
                        copies[hold.item_id] = "AVAILABLE"
        return QueueChange(queue=queue, holds=tuple(expired), events=tuple(events), copies=copies)

    def cancel(self, hold_id: str, *, at: datetime) -> QueueChange:
        hold = self.get(hold_id)
        if not hold.open:
            raise HoldNotReady(f"the hold is already {hold.status}")
        cancelled = hold.model_copy(update={"status": "cancelled", "closed_at": at})
        event = HoldCancelled(occurred_at=at, hold_id=hold_id, patron_id=hold.patron_id)
        return QueueChange(queue=self._with(cancelled), holds=(cancelled,), events=(event,))

    def cancel_and_pass_on(
        self, policy: Policy, hold_id: str, *, at: datetime, on: date
    ) -> QueueChange:
        """Cancel a reservation; a copy it was keeping on the pickup shelf goes to the next
        reader waiting (and stays there), or back on the shelf."""
        hold = self.get(hold_id)
        change = self.cancel(hold_id, at=at)
        if hold.status != "ready" or hold.item_id is None:
            return change
        passed = change.queue.assign_returned_copy(policy, hold.item_id, at=at, on=on)
        return QueueChange(
            queue=passed.queue,
            holds=(*change.holds, *passed.holds),
            events=(*change.events, *passed.events),
            copies={} if passed.hold else {hold.item_id: "AVAILABLE"},
        )


QueueChange.model_rebuild()


class ReservationState(DomainModel):
    """What a loan's renewal needs to know about reservations on its title."""

    hold_by_other: bool = False
    other_copy_available: bool = False


def reservation_state(
    queue: HoldQueue | None, borrower_id: str, *, other_copy_available: bool
) -> ReservationState:
    return ReservationState(
        hold_by_other=queue is not None and queue.held_by_other(borrower_id),
        other_copy_available=other_copy_available,
    )


def reservation_blocks_renewal(
    policy: Policy, queue: HoldQueue | None, borrower_id: str, *, other_copy_available: bool
) -> bool:
    """Does a waiting reservation stop this borrower renewing?

    HKPL-03: yes when another reader has reserved the title and no other copy is available.
    HKALL-12: a hold by a local user of the lender blocks whatever other copies exist.
    """
    if queue is None or not queue.held_by_other(borrower_id):
        return False
    mode = policy.renewals.hold_blocks
    return mode == "always" or (mode == "when_no_other_copy" and not other_copy_available)
