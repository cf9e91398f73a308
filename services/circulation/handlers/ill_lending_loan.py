"""This library as the lender, while another library's patron has its item (ILL.md, "After
the checkout"): the renewals the home library asks of it, and its recalls (by its staff, or
by a hold one of its own users places on a title whose copy is out on ILL).

Load the lending, decide in :mod:`..domain.ill_loan_changes`, save with the guarded step of
:mod:`.ill_lending`, and tell the broker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope
from libs.common.contracts.ill import IllRequesterMessage
from services.circulation.adapters import holds_repo, items_repo
from services.circulation.adapters import ill_lending_repo as repo
from services.circulation.domain.ill_loan_changes import LentCopy, recall_date, renewal_answer
from services.circulation.domain.ill_supplier import OUT, STATUS_OF, LendingState, Reply
from services.circulation.domain.ill_supplier import staff_step as check_step
from services.circulation.handlers import ill_lending
from services.circulation.handlers.context import Library
from services.circulation.handlers.ill_messages import record

S = LendingState


async def _local_hold(conn: AsyncConnection, item_id: str) -> bool:
    """HKALL-12: one of this library's own users waits for the title of the lent copy."""
    row = await items_repo.find_item_row(conn, item_id=item_id)
    if row is None or row.title_id is None:
        return False
    return bool((await holds_repo.queue(conn, row.title_id)).waiting())


async def _copy(conn: AsyncConnection, row: dict[str, Any]) -> LentCopy:
    return LentCopy(
        transaction_id=row["transaction_id"],
        item_id=row["item_id"],
        patron_category=row["patron_category"],
        shipped_on=row["shipped_on"],
        due_date=row["due_date"],
        renewals=row.get("renewals") or 0,
        recalled=row["state"] == S.RECALLED or row.get("recalled_on") is not None,
        checked_out_on=row.get("checked_out_on"),
        local_hold=await _local_hold(conn, row["item_id"]),
    )


def _terms_due(row: dict[str, Any], due) -> dict[str, Any] | None:
    terms = row.get("loan_terms")
    return {**terms, "due_date": due.isoformat()} if terms else None


async def answer_renewal(
    conn: AsyncConnection,
    lib: Library,
    env: Envelope,
    row: dict[str, Any],
    payload: IllRequesterMessage,
) -> None:
    """HKALL-12/13, MALA-05: decided now, by this library's policy and its own users' holds,
    on the day the patron asked; yes with the new due date, or no with the rule."""
    answer = renewal_answer(
        lib.policy, await _copy(conn, row), lib.policy.local_date(payload.occurred_at)
    )
    txn = row["transaction_id"]
    base = dict(item_id=row["item_id"], barcode=row["barcode"])
    if answer.approved:
        await ill_lending.take_step(
            conn,
            lib,
            row,
            "renew",
            S.LOANED,
            actor=env.sender,
            causation_id=env.message_id,
            due_date=answer.due_date,
            renewals=(row.get("renewals") or 0) + 1,
            loan_terms=_terms_due(row, answer.due_date),
        )
        reply = Reply("Loaned", "RenewResponse", "yes", due_date=answer.due_date, **base)
    else:
        await record(
            conn,
            lib,
            transaction_id=txn,
            role=ill_lending.ROLE,
            from_state=row["state"],
            to_state=row["state"],
            event="Renew:no",
            actor=env.sender,
            message_id=env.message_id,
        )
        state = S(row["state"])
        reply = Reply(
            STATUS_OF[state],
            "RenewResponse",
            "no",
            due_date=row["due_date"],
            refusal=answer.refusal,
            **base,
        )
    await ill_lending.tell(conn, lib, txn, reply, causation_id=env.message_id)


async def recall(
    conn: AsyncConnection, lib: Library, transaction_id: str, *, actor: str
) -> dict[str, Any]:
    """HKALL-11, MALA-06: the item is recalled from the requester's patron: due on the date
    the policy gives (never later than now, never inside the minimum use period), told to the
    broker as Recalled; the home library e-mails its patron and fines at the recalled rate."""
    row = await ill_lending.load(conn, transaction_id)
    if row["state"] == S.RECALLED:
        return row  # recalled already: a repeat changes nothing
    check_step(row["state"], "recall")
    due = recall_date(lib.policy, await _copy(conn, row), lib.today())
    await ill_lending.take_step(
        conn,
        lib,
        row,
        "recall",
        S.RECALLED,
        actor=actor,
        recalled_on=lib.today(),
        recalled_by=actor[:80],
        due_date=due,
        loan_terms=_terms_due(row, due),
    )
    reply = Reply(
        "Recalled", "StatusChange", item_id=row["item_id"], barcode=row["barcode"], due_date=due
    )
    await ill_lending.tell(conn, lib, transaction_id, reply, causation_id=None)
    return await ill_lending.load(conn, transaction_id)


async def recall_for_hold(
    conn: AsyncConnection, lib: Library, title_id: str, *, hold_id: str
) -> str | None:
    """HKALL-11: one of this library's users reserved a title none of whose copies is on
    the shelf: a copy out on ILL (not yet recalled) is recalled for them. Returns the
    transaction recalled, if any."""
    copies = await items_repo.title_rows(conn, title_id)
    if any(c.status == "AVAILABLE" for c in copies):
        return None
    for copy in copies:
        if copy.status != "ON_ILL_LOAN":
            continue
        lending = await repo.open_by_item(conn, copy.id)
        if lending is None or S(lending["state"]) not in OUT or lending["state"] == S.RECALLED:
            continue
        await recall(conn, lib, lending["transaction_id"], actor=f"hold:{hold_id}")
        return lending["transaction_id"]
    return None
