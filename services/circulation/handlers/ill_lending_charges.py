"""This library as the lender, after its copy was lent (ILL.md, "After the checkout"): its
daily job says Overdue of every lending past its due date; a copy the requester reports lost
or damaged is charged by this library's own replacement policy (HKALL-20, MALA-11) and the
charge sent with ``CompletedWithoutReturn`` (lost) or a Notification (damaged); a copy the
policy cannot price waits, Lost, for its staff to state the charge.

Only the pseudonymous lending is touched here: the patron stays unknown to this library.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts.ill import IllRequesterMessage
from libs.common.policy import Charge, ChargeError
from services.circulation.adapters import ill_lending_repo as repo
from services.circulation.adapters import items_repo
from services.circulation.adapters.tables import ill_lending
from services.circulation.domain.ill_lending_charges import (
    charge_reply,
    charge_values,
    is_overdue,
    overdue_reply,
    priced_charge,
    staff_charge,
)
from services.circulation.domain.ill_supplier import OUT, LendingConflict, LendingState
from services.circulation.domain.items import Item
from services.circulation.handlers.context import Invalid, Library
from services.circulation.handlers.ill_lending import AUTO, load, take_step, tell

S = LendingState
#: who the daily job is in the history
JOB = "job:ill-lending-overdue"


async def _copy(conn: AsyncConnection, lib: Library, item_id: str) -> tuple[Item, Item | None]:
    row = await items_repo.find_item_row(conn, item_id=item_id)
    assert row is not None, "a lending names one of this library's items"
    item = items_repo.item_of(row, lib.code, lib.policy.currency)
    main = None
    if item.main_item_id:
        main_row = await items_repo.find_item_row(conn, item_id=item.main_item_id)
        main = items_repo.item_of(main_row, lib.code, lib.policy.currency) if main_row else None
    return item, main


async def decide(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    decision: Literal["lost_charge", "damaged_charge"],
    payload: IllRequesterMessage,
    *,
    causation_id: str,
) -> None:
    """The requester said Lost (the lending is Lost now) or Damaged: the charge by this
    library's policy, sent at once when the policy prices the copy."""
    row = await load(conn, transaction_id)
    kind = "lost_item" if decision == "lost_charge" else "damaged_item"
    if kind == "lost_item":
        await repo.remember(
            conn, transaction_id, lib.now(), lost_on=lib.policy.local_date(payload.occurred_at)
        )
    item, main = await _copy(conn, lib, row["item_id"])
    charge = priced_charge(lib.policy, item, kind=kind, main_item=main)
    if charge is None:
        # HKALL-20, MALA-11: nothing to price it by (no price, no pages): staff state it
        return
    await _charge(conn, lib, row, charge, actor=AUTO, causation_id=causation_id)


async def charge(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    *,
    amount_minor: int,
    kind: Literal["lost_item", "damaged_item"] | None,
    actor: str,
) -> dict[str, Any]:
    """Staff state the charge for a lost copy the policy could not price (or for a damaged
    one), in this library's currency (HKALL-20, MALA-11)."""
    row = await load(conn, transaction_id)
    state = S(row["state"])
    if state is S.COMPLETED_WITHOUT_RETURN:
        return row  # charged already: a repeat changes nothing
    kind = kind or ("lost_item" if state is S.LOST else "damaged_item")
    if kind == "lost_item" and state is not S.LOST:
        raise LendingConflict(
            f"a lost copy's charge is posted once the requester reports it lost (the lending "
            f"is {state.value})"
        )
    if kind == "damaged_item" and state not in (*OUT, S.RETURN_SHIPPED, S.LOAN_COMPLETED):
        raise LendingConflict(f"no damage can be charged in state {state.value}")
    try:
        priced = staff_charge(lib.policy, amount_minor, kind=kind)
    except ChargeError as exc:
        raise Invalid(str(exc)) from exc
    await _charge(conn, lib, row, priced, actor=actor, causation_id=None)
    return await load(conn, transaction_id)


async def _charge(
    conn: AsyncConnection,
    lib: Library,
    row: dict[str, Any],
    charge: Charge,
    *,
    actor: str,
    causation_id: str | None,
) -> None:
    txn = row["transaction_id"]
    values = charge_values(charge)
    if charge.kind == "lost_item":
        await take_step(
            conn,
            lib,
            row,
            "charge",
            S.COMPLETED_WITHOUT_RETURN,
            actor=actor,
            causation_id=causation_id,
            **values,
        )
        # The copy is gone for good: the catalogue hears of it through item.changed.
        await items_repo.set_status(
            conn, lib.code, row["item_id"], "LOST", lib.clock, expected=("ON_ILL_LOAN",)
        )
    else:
        await repo.remember(conn, txn, lib.now(), **values)
    await tell(conn, lib, txn, charge_reply(row["state"], charge), causation_id=causation_id)


async def mark_overdue(conn: AsyncConnection, lib: Library) -> int:
    """The lender's daily job: each copy out past its due date is Overdue, and the requester
    told (through the broker) so both sides agree on the loan's standing. Safe to repeat:
    the step is taken once, from Loaned only."""
    today = lib.today()
    ids = (
        await conn.execute(
            select(ill_lending.c.transaction_id)
            .where(ill_lending.c.state == S.LOANED.value, ill_lending.c.due_date < today)
            .order_by(ill_lending.c.due_date, ill_lending.c.transaction_id)
        )
    ).scalars()
    count = 0
    for txn in list(ids):
        row = await load(conn, txn)
        if not is_overdue(row["state"], row["due_date"], today):
            continue  # changed since it was listed
        # the row is locked and still Loaned: the guarded step is taken
        await take_step(conn, lib, row, "overdue", S.OVERDUE, actor=JOB)
        await tell(conn, lib, txn, overdue_reply(row["due_date"]), causation_id=None)
        count += 1
    return count
