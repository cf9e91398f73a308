"""MALA-14 at the home library (UM for MALA, EdUHK for HKALL), on SQLite and PostgreSQL: the
staff clearance of a leaving patron lists every inter-library request not finished and every
unpaid inter-library charge; closing the account (graduation, left) is refused naming MALA-14
while any remains, so is cancelling the last card; once all is back and paid, it closes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import insert, update

from libs.common.money import Money
from services.circulation.adapters import ledger_repo
from services.circulation.adapters.tables import ill_borrowing
from services.circulation.domain.ledger import LedgerEntry

from .conftest import hkt, open_desk

PROBLEM = "application/problem+json"


@pytest.fixture
async def um(database_url, clock):
    async with open_desk(database_url, clock, library="um") as d:
        yield d


@pytest.fixture
async def eduhk(database_url, clock):
    async with open_desk(database_url, clock, library="eduhk") as d:
        yield d


async def _student(desk) -> dict:
    return await desk.register(category="student", card_number=desk.unique("S"))


async def _borrowing(desk, patron_id: str, state: str, **fields) -> str:
    txn = str(uuid.uuid4())
    now = desk.clock.now()
    async with desk.runtime.engine.begin() as conn:
        await conn.execute(
            insert(ill_borrowing).values(
                transaction_id=txn,
                patron_id=patron_id,
                patron_ref=uuid.uuid4().hex,
                category="student",
                record_id=1,
                title="澳門史 Macau: A History",
                authors=[],
                material_type="book",
                pickup_location="main",
                state=state,
                quota_held=False,
                candidates=["mpu"],
                due_date=date(2027, 7, 10),
                requested_by="test",
                created_at=now,
                updated_at=now,
                **{"lender": "mpu", **fields},
            )
        )
    return txn


async def _lender_charge(desk, patron_id: str, txn: str, minor: int) -> str:
    """The lender's lost-item charge as the home library posts it (HKALL-20, MALA-11)."""
    entry = LedgerEntry(
        patron_id=patron_id,
        kind="lost_item",
        amount=Money(amount_minor=minor, currency=desk.runtime.library.policy.currency),
        at=desk.clock.now(),
        on=desk.clock.now().date(),
        rule="MALA-11",
        description="the lender's replacement charge",
    )
    async with desk.runtime.engine.begin() as conn:
        await ledger_repo.add_entries(conn, entry)
        await conn.execute(
            update(ill_borrowing)
            .where(ill_borrowing.c.transaction_id == txn)
            .values(
                state="CompletedWithoutReturn",
                charge_minor=minor,
                charge_currency=entry.amount.currency,
                charge_kind="lost_item",
                charge_rule="MALA-11",
                charge_entry_id=entry.entry_id,
            )
        )
    return entry.entry_id


async def _set_state(desk, txn: str, state: str) -> None:
    async with desk.runtime.engine.begin() as conn:
        await conn.execute(
            update(ill_borrowing).where(ill_borrowing.c.transaction_id == txn).values(state=state)
        )


async def test_mala_14_clearance_lists_items_out_and_unpaid_charges_and_guards_closing(um):
    student = await _student(um)
    pid = student["patron"]["patron_id"]
    out = await _borrowing(um, pid, "CheckedOut")
    lost = await _borrowing(um, pid, "Lost")
    done = await _borrowing(um, pid, "Completed")
    entry = await _lender_charge(um, pid, lost, 45_000)

    res = await um.get(f"/api/v1/patrons/{pid}/clearance")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["clear"] is False and body["rules"] == ["MALA-14"]
    assert [i["transaction_id"] for i in body["ill_items"]] == [out]
    assert body["ill_items"][0]["where"] == "with the patron"
    assert done not in {i["transaction_id"] for i in body["ill_items"]}
    [charge] = body["ill_charges"]
    assert (charge["entry_id"], charge["transaction_id"], charge["unpaid_minor"]) == (
        entry,
        lost,
        45_000,
    )
    assert body["ill_unpaid"] == [{"amount_minor": 45_000, "currency": "MOP"}]
    assert body["loans"] == [] and body["charges"] == []

    res = await um.post(f"/api/v1/patrons/{pid}/close", {"reason": "graduation"})
    assert res.status_code == 409, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    assert res.json()["rules"] == ["MALA-14"]
    assert "MALA-14" in res.text and "graduates or leaves" in res.text
    # the last card's cancellation would close the account just the same: refused too
    res = await um.post(f"/api/v1/cards/{student['card_number']}/cancel")
    assert res.status_code == 409 and "MALA-14" in res.json()["rules"], res.text

    # the item comes back to its lender, the patron pays the lender's charge
    await _set_state(um, out, "Completed")
    res = await um.post(
        f"/api/v1/patrons/{pid}/payments",
        {"amount_minor": 45_000, "reason": "lost item", "applies_to": entry},
        **{"Idempotency-Key": um.unique("k")},
    )
    assert res.status_code == 201, res.text
    res = await um.get(f"/api/v1/patrons/{pid}/clearance")
    assert res.json()["clear"] is True and res.json()["rules"] == []

    res = await um.post(f"/api/v1/patrons/{pid}/close", {"reason": "graduation"})
    assert res.status_code == 200, res.text
    assert res.json()["patron"]["status"] == "cancelled"
    assert res.json()["reason"] == "graduation"
    account = (await um.get(f"/api/v1/patrons/{pid}")).json()
    assert account["patron"]["status"] == "cancelled"
    res = await um.post(f"/api/v1/patrons/{pid}/close", {"reason": "left"})
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-17"]


async def test_mala_14_applies_to_an_hkall_home_library_too(eduhk, clock):
    await eduhk.travel(hkt(2026, 12, 1))
    student = await eduhk.register(category="student", card_number=eduhk.unique("E"))
    pid = student["patron"]["patron_id"]
    await _borrowing(eduhk, pid, "ShippedReturn", lender="hku")
    res = await eduhk.post(f"/api/v1/patrons/{pid}/close", {"reason": "left"})
    assert res.status_code == 409, res.text
    assert res.json()["rules"] == ["MALA-14"]
    assert "HKALL's as MALA's" in res.text


async def test_closing_asks_why_and_only_the_librarys_own_staff_may(um):
    student = await _student(um)
    pid = student["patron"]["patron_id"]
    res = await um.post(f"/api/v1/patrons/{pid}/close", {"reason": "bored"})
    assert res.status_code == 422 and res.headers["content-type"].startswith(PROBLEM)
    res = await um.post("/api/v1/patrons/nobody/close", {"reason": "left"})
    assert res.status_code == 404
    res = await um.client.get(f"/api/v1/patrons/{pid}/clearance")
    assert res.status_code == 401
