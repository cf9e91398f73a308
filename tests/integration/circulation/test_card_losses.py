"""MALA-12 at both libraries, on SQLite and PostgreSQL: home staff report a patron's
institutional card of another MALA library lost: MOP 120 is posted to the patron and the
report goes to the broker in the same transaction, naming the patron by a pseudonym; the
lender records the report the broker passes on, once, with no personal data."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from libs.common.contracts import IllCardLost
from libs.common.db import unit_of_work
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import circulation_address
from services.circulation.adapters.tables import ill_history, institutional_card_losses
from services.circulation.handlers import card_losses

from .conftest import open_desk

PROBLEM = "application/problem+json"


@pytest.fixture
async def um(database_url, clock):
    async with open_desk(database_url, clock, library="um") as d:
        yield d


async def test_mala_12_home_staff_report_the_card_the_fee_is_posted_and_the_lender_told(um):
    student = await um.register(category="student", card_number=um.unique("S"))
    pid = student["patron"]["patron_id"]
    res = await um.post(
        f"/api/v1/patrons/{pid}/institutional-cards/lost",
        {"lender": "mpu"},
        **{"Idempotency-Key": um.unique("k")},
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["rule"] == "MALA-12"
    assert (body["fee"]["amount_minor"], body["fee"]["currency"], body["fee"]["rule"]) == (
        12_000,
        "MOP",
        "MALA-12",
    )
    account = (await um.get(f"/api/v1/patrons/{pid}")).json()
    assert account["charges"]["outstanding_minor"] == 12_000

    [sent] = [
        e for e in await um.messages("ill.card_lost") if e["correlation_id"] == body["report_id"]
    ]
    assert sent["recipient"] == "requests"
    payload = sent["payload"]
    assert payload["lender"] == "mpu" and payload["requester"] == "um"
    # the pseudonym only: no patron id, name, e-mail or phone
    text = str(payload)
    for personal in (pid, "Chan Tai Man", "chan.taiman@example.hk", "9123 4567"):
        assert personal not in text

    res = await um.post(
        f"/api/v1/patrons/{pid}/institutional-cards/lost",
        {"lender": "hku"},
        **{"Idempotency-Key": um.unique("k")},
    )
    assert res.status_code == 422 and res.headers["content-type"].startswith(PROBLEM)
    assert "MALA-12" in res.json()["detail"]


async def test_mala_12_the_lender_records_the_report_once_without_personal_data(
    database_url, clock
):
    async with open_desk(database_url, clock, library="mpu") as mpu:
        report = IllCardLost(
            report_id=str(uuid.uuid4()),
            requester="um",
            lender="mpu",
            patron_ref=uuid.uuid4().hex,
            transactions=[],
            reported_at=clock.now(),
        )
        lib = mpu.runtime.library
        for _ in range(2):  # the same report again under a new message id
            env = make_envelope(
                report,
                sender="requests",
                recipient=circulation_address("mpu"),
                correlation_id=report.report_id,
                clock=clock,
            )
            async with unit_of_work(mpu.runtime.engine) as conn:
                await card_losses.on_card_lost(conn, lib, env, report)
        async with mpu.runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(institutional_card_losses).where(
                        institutional_card_losses.c.report_id == report.report_id
                    )
                )
            ).all()
            assert (
                await conn.scalar(
                    select(ill_history.c.id).where(ill_history.c.message_id == env.message_id)
                )
                is None
            )  # it named no request of this library
        [row] = rows
        assert (row.role, row.library, row.patron_ref, row.patron_id) == (
            "supplier",
            "um",
            report.patron_ref,
            None,
        )
        res = await mpu.get("/api/v1/ill/card-losses")
        assert res.status_code == 200, res.text
        assert report.report_id in {r["report_id"] for r in res.json()}
