"""What a run of whole loans left behind, read straight from each side's database and from
RabbitMQ after the run: every transition recorded once per transaction on every side, nothing
parked or dead-lettered or unsent, the lenders' books back on the shelf, the homes' quotas
given back."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError

from deploy.queues import federation_queues
from libs.common.db import make_engine
from tests.faults.ill_driver import Loan
from tests.faults.ill_helpers import IllFederation
from tests.faults.proc_helpers import queue_depth


@dataclass
class IllTally:
    loans: int
    completed: int  # Completed at home, LoanCompleted at the lender and at the broker
    final_states: Counter  # (side, state) -> loans
    duplicates: list[str]  # one transition recorded twice for one transaction (applied twice)
    refused: list[str]  # messages a side refused (ill.error), by side and event
    parked: dict[str, int]  # ill_parked rows left, by unit (an early message never released)
    unsent: dict[str, int]  # outbox rows never published, by unit
    dead_letters: int  # parked in the broker's dead-letter table
    dlq: dict[str, int]  # messages left in a dead-letter queue
    waiting: dict[str, int]  # messages left in a queue
    items_not_available: Counter  # lender item status -> count (should be empty)
    quota_held: int  # home requests still holding quota
    loans_open: int  # home loans of the run's patrons never returned
    stuck: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.loans - self.completed

    @property
    def applied_twice(self) -> int:
        return len({d.split(" ", 1)[0] for d in self.duplicates})

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and not self.duplicates
            and not any(self.parked.values())
            and not any(self.unsent.values())
            and self.dead_letters == 0
            and not any(self.dlq.values())
            and not self.items_not_available
            and self.quota_held == 0
            and self.loans_open == 0
        )

    def line(self) -> str:
        return (
            f"loans {self.loans}: completed {self.completed}, lost {self.lost}, applied twice "
            f"{self.applied_twice} ({len(self.duplicates)} duplicate transitions), refused "
            f"messages {len(self.refused)}, parked {sum(self.parked.values())}, unsent "
            f"{sum(self.unsent.values())}, dead-lettered {self.dead_letters} (dlq "
            f"{sum(self.dlq.values())}), lender items not AVAILABLE "
            f"{sum(self.items_not_available.values())}, quota still held {self.quota_held}, "
            f"loans not returned {self.loans_open}"
        )

    def details(self) -> str:
        parts = [self.line()]
        for title, rows in (
            ("stuck", self.stuck),
            ("duplicates", self.duplicates),
            ("refused", self.refused),
        ):
            if rows:
                parts.append(f"{title}:\n  " + "\n  ".join(rows[:40]))
        parts.append(f"final states: {dict(self.final_states)}")
        return "\n".join(parts)


async def _rows(url: str, sql: str, **params):
    stmt = text(sql)
    for name, value in params.items():
        if isinstance(value, list | tuple):
            stmt = stmt.bindparams(bindparam(name, expanding=True))
    for attempt in range(30):
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(stmt, params)).all()
        except DBAPIError:
            # The PostgreSQL server is shared: when every connection slot is taken, ask again.
            if attempt == 29:
                raise
        finally:
            await engine.dispose()
        await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def tally_loans(tf: IllFederation, loans: list[Loan]) -> IllTally:
    txns = [ln.txn for ln in loans if ln.txn]
    states: Counter = Counter()
    duplicates: list[str] = []
    refused: list[str] = []
    parked: dict[str, int] = {}
    unsent: dict[str, int] = {}
    items_left: Counter = Counter()
    quota = opened = 0
    done: dict[str, set[str]] = {t: set() for t in txns}
    nothing = txns or ["-"]
    for code in tf.libraries:
        key = f"circulation-{code}"
        url = tf.db[key]
        # The same step recorded twice for one transaction on one side: applied twice.
        # (A note such as the lender hearing Received keeps the state: the event tells
        # one note from another.)
        for txn, role, frm, to, event, n in await _rows(
            url,
            "SELECT transaction_id, role, from_state, to_state, event, count(*) FROM ill_history "
            "WHERE refused IS NULL AND to_state IS NOT NULL AND transaction_id IN :txns "
            "GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1",
            txns=nothing,
        ):
            duplicates.append(f"{txn} {code} {role}: {frm}->{to} {event} x{n}")
        for txn, role, state, event, why in await _rows(
            url,
            "SELECT transaction_id, role, from_state, event, refused FROM ill_history "
            "WHERE refused IS NOT NULL AND transaction_id IN :txns ORDER BY id",
            txns=nothing,
        ):
            refused.append(f"{txn} {code} {role} in {state}: {event}: {why}")
        parked[key] = (await _rows(url, "SELECT count(*) FROM ill_parked"))[0][0]
        unsent[key] = (await _rows(url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))[0][0]
        for txn, state, held in await _rows(
            url,
            "SELECT transaction_id, state, quota_held FROM ill_borrowing "
            "WHERE transaction_id IN :txns",
            txns=nothing,
        ):
            states[("requester", state)] += 1
            quota += bool(held)
            if state == "Completed":
                done[txn].add("requester")
        for txn, state in await _rows(
            url,
            "SELECT transaction_id, state FROM ill_lending WHERE transaction_id IN :txns",
            txns=nothing,
        ):
            states[("supplier", state)] += 1
            if state == "LoanCompleted":
                done[txn].add("supplier")
        mine = [ln.item_id for ln in loans if ln.lender == code] or ["-"]
        for status, n in await _rows(
            url,
            "SELECT status, count(*) FROM items WHERE id IN :ids GROUP BY 1",
            ids=mine,
        ):
            if status != "AVAILABLE":
                items_left[status] += n
        patrons = [ln.patron_id for ln in loans if ln.home == code] or ["-"]
        opened += (
            await _rows(
                url,
                "SELECT count(*) FROM loans WHERE returned_at IS NULL AND patron_id IN :ids",
                ids=patrons,
            )
        )[0][0]
    broker = tf.db["requests"]
    # Each message the broker heard applied once (a step), and each message it sent recorded
    # once (a row with no state: "sent to X").
    for txn, side, frm, to, mtype, status, action, detail, n in await _rows(
        broker,
        "SELECT transaction_id, side, from_state, to_state, message_type, status, action, "
        "detail, count(*) FROM ill_transaction_history WHERE refused IS NULL "
        "AND transaction_id IN :txns GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING count(*) > 1",
        txns=nothing,
    ):
        what = "/".join(str(x) for x in (mtype, status, action, detail) if x)
        duplicates.append(f"{txn} broker {side}: {frm}->{to} {what} x{n}")
    for txn, side, state, mtype, why in await _rows(
        broker,
        "SELECT transaction_id, side, from_state, message_type, refused "
        "FROM ill_transaction_history WHERE refused IS NOT NULL AND transaction_id IN :txns "
        "ORDER BY id",
        txns=nothing,
    ):
        refused.append(f"{txn} broker {side} in {state}: {mtype}: {why}")
    for txn, state in await _rows(
        broker, "SELECT id, state FROM ill_transactions WHERE id IN :txns", txns=nothing
    ):
        states[("broker", state)] += 1
        if state == "LoanCompleted":
            done[txn].add("broker")
    parked["requests"] = (await _rows(broker, "SELECT count(*) FROM ill_parked"))[0][0]
    unsent["requests"] = (await _rows(broker, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))[
        0
    ][0]
    dead = (await _rows(broker, "SELECT count(*) FROM dead_letters WHERE status = 'parked'"))[0][0]
    dlq: dict[str, int] = {}
    waiting: dict[str, int] = {}
    for spec in federation_queues(tf.fed):
        dlq[spec.name] = await queue_depth(tf.admin_url, spec.dlq)
        waiting[spec.name] = await queue_depth(tf.admin_url, spec.name)
    complete = {t for t, sides in done.items() if sides == {"requester", "supplier", "broker"}}
    stuck = [
        f"loan {ln.n} {ln.home}<-{ln.lender} txn {ln.txn}: last step {ln.last_step}: {ln.error}"
        for ln in loans
        if ln.txn not in complete
    ]
    return IllTally(
        loans=len(loans),
        completed=len(complete),
        final_states=states,
        duplicates=duplicates,
        refused=refused,
        parked=parked,
        unsent=unsent,
        dead_letters=dead,
        dlq=dlq,
        waiting=waiting,
        items_not_available=items_left,
        quota_held=quota,
        loans_open=opened,
        stuck=stuck,
    )
