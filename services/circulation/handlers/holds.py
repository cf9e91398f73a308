"""Reservations: a first-come queue per title, a copy assigned as soon as one is on the shelf
or comes back, the pickup shelf with its deadline, and expiry. The reservation fee is charged
when the copy is collected at checkout (HKPL-11, see :mod:`.loans`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.policy import Decision
from services.circulation.adapters import holds_repo, items_repo
from services.circulation.domain.events import DomainEvent
from services.circulation.domain.holds import Hold, HoldQueue
from services.circulation.domain.ill_borrowing import is_visiting, visiting_recall_refusal
from services.circulation.domain.patrons import Patron, block_refusals
from services.circulation.handlers import ill_lending_loan
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused
from services.circulation.handlers.notices import notify_events
from services.circulation.handlers.patrons import load_patron


async def _titles(conn: AsyncConnection, title_id: str) -> list:
    copies = await items_repo.title_rows(conn, title_id)
    # Accompanying material travels with its main item; it is never a copy of the title.
    return [c for c in copies if not (c.set_id and c.main_item_id)]


async def _assign_shelf_copy(
    conn: AsyncConnection, lib: Library, queue: HoldQueue, copies: list
) -> tuple[HoldQueue, list[Hold], list[DomainEvent], dict[str, str]]:
    """Give copies standing on the shelf to the readers waiting first."""
    changed: list[Hold] = []
    events: list[DomainEvent] = []
    titles: dict[str, str] = {}
    for copy in copies:
        if copy.status != "AVAILABLE" or not queue.waiting():
            continue
        change = queue.assign_returned_copy(lib.policy, copy.id, at=lib.now(), on=lib.today())
        took = None
        for item_id, status in change.copies.items():
            # Only from the shelf: a copy lent meanwhile at a counter is not taken from its
            # borrower.
            took = await items_repo.set_status(
                conn, lib.code, item_id, status, lib.clock, expected=("AVAILABLE",)
            )
        if took is None:
            continue
        queue = change.queue
        changed += change.holds
        events += change.events
        titles[copy.id] = copy.title
    return queue, changed, events, titles


async def place(
    conn: AsyncConnection, lib: Library, patron_id: str, title_id: str, pickup_location: str
) -> Hold:
    """Join the title's queue; a suspended or cancelled account may not reserve (HKPL-15,
    HKPL-17)."""
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    blocks = block_refusals(patron, "reservation")
    if blocks:
        raise Refused(Decision.of("reservation", blocks))
    if pickup_location not in lib.service_points:
        raise Invalid(f"{pickup_location!r} is not a service point of this library")
    copies = await _titles(conn, title_id)
    if not copies:
        raise NotFound(f"no title {title_id} in this library")
    if all(is_visiting(c.id) for c in copies):
        raise Refused(Decision.of("reservation", [visiting_recall_refusal(lib.policy)]))
    queue = await holds_repo.queue(conn, title_id)
    change = queue.place(patron_id, pickup_location=pickup_location, at=lib.now())
    hold = change.hold
    assert hold is not None
    queue, assigned, events, titles = await _assign_shelf_copy(conn, lib, change.queue, copies)
    await holds_repo.save_holds(conn, [queue.get(hold.hold_id), *assigned])
    await _notify(conn, lib, {patron_id: patron}, events, titles)
    if not assigned:
        # HKALL-11: none on the shelf; a copy out on ILL comes back for this library's user.
        await ill_lending_loan.recall_for_hold(conn, lib, title_id, hold_id=hold.hold_id)
    return queue.get(hold.hold_id)


async def _notify(
    conn: AsyncConnection,
    lib: Library,
    patrons: dict[str, Patron],
    events: list[DomainEvent],
    titles: dict[str, str],
) -> None:
    for event in events:
        pid = getattr(event, "patron_id", None)
        if pid and pid not in patrons:
            patrons[pid] = await load_patron(conn, lib, pid)
    await notify_events(conn, lib, patrons, events, titles)


async def cancel(
    conn: AsyncConnection, lib: Library, hold_id: str, *, patron_id: str | None = None
) -> Hold:
    """Cancel a reservation (a patron only their own); a copy it was keeping on the pickup
    shelf goes to the next reader waiting, or back on the shelf."""
    hold = await holds_repo.get_hold(conn, hold_id)
    if hold is None or (patron_id is not None and hold.patron_id != patron_id):
        raise NotFound(f"no hold {hold_id}")
    queue = await holds_repo.queue(conn, hold.title_id)
    change = queue.cancel_and_pass_on(lib.policy, hold_id, at=lib.now(), on=lib.today())
    for item_id, status in change.copies.items():
        await items_repo.set_status(conn, lib.code, item_id, status, lib.clock)
    titles: dict[str, str] = {}
    for passed in change.holds[1:]:  # the copy the cancelled hold kept, passed on
        if passed.item_id:
            row = await items_repo.find_item_row(conn, item_id=passed.item_id)
            titles[passed.item_id] = row.title if row else ""
    await holds_repo.save_holds(conn, change.holds)
    await _notify(conn, lib, {}, list(change.events), titles)
    return change.holds[0]


async def expire_pickups(conn: AsyncConnection, lib: Library) -> int:
    """The daily job: reservations not collected by their pickup deadline expire; each copy
    goes to the next reader waiting, or back on the shelf. Returns how many expired."""
    today = lib.today()
    due = [h for h in await holds_repo.ready_holds(conn) if h.pickup_by and today > h.pickup_by]
    expired = 0
    for title_id in dict.fromkeys(h.title_id for h in due):
        queue = await holds_repo.queue(conn, title_id)
        change = queue.expire(lib.policy, at=lib.now(), on=today, pass_on=True)
        changed = [h for h in change.queue.holds if h != _old(queue, h.hold_id)]
        await holds_repo.save_holds(conn, changed)
        titles: dict[str, str] = {}
        for hold in change.holds:
            expired += 1
            if hold.item_id in change.copies:
                status = change.copies[hold.item_id]
                await items_repo.set_status(conn, lib.code, hold.item_id, status, lib.clock)
            row = await items_repo.find_item_row(conn, item_id=hold.item_id)
            if row is not None:
                titles[row.id] = row.title
        await _notify(conn, lib, {}, list(change.events), titles)
    return expired


def _old(queue: HoldQueue, hold_id: str) -> Hold | None:
    return next((h for h in queue.holds if h.hold_id == hold_id), None)
