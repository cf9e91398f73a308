"""A lending library's circulation service as the broker sees it: the broker's messages go
into the library's queue through the in-process bus, as the broker's own login sends them,
and what the library answers is read from its outbox."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from deploy.queues import federation_queues
from libs.common.clock import ManualClock
from libs.common.contracts import IllRequest, IllRequesterMessage
from libs.common.contracts.ill import IllPatron, IllRecord
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.outbox import make_envelope
from libs.common.messaging.topology import DIRECT, circulation_address
from libs.common.policy.models import IllTerms
from libs.common.settings import DEV_SECRET
from services.circulation.adapters.tables import ill_history
from services.circulation.app import create_app
from services.circulation.runtime import build_runtime
from tests.integration.circulation.conftest import CHEAP_HASHER, Desk

BROKER = "requests"


class Lender(Desk):
    """A :class:`Desk` of a lending library, fed by the broker."""

    broker: MemoryBroker

    @property
    def queue(self) -> str:
        return f"{circulation_address(self.library)}.inbox"

    def request(
        self,
        *items: dict,
        category: str = "student",
        consortium: str = "HKALL",
        requester: str = "eduhk",
        isbn: str | None = None,
        transaction_id: str | None = None,
    ) -> IllRequest:
        """The request as the broker forwards it: the catalogue's guess at this library's
        copies, the patron by pseudonym, category and consortium only."""
        return IllRequest(
            transaction_id=transaction_id or str(uuid.uuid4()),
            seq=1,
            requester=requester,
            pickup_location="tko" if requester == "eduhk" else "main",
            patron=IllPatron(
                ref=f"p-{uuid.uuid4().hex[:16]}", category=category, consortium=consortium
            ),
            record=IllRecord(
                record_id=42, title=items[0]["title"] if items else "香港歷史", isbn=isbn
            ),
            supplier=self.library,
            lender_items=[i["id"] for i in items],
            requested_at=self.clock.now(),
        )

    def says(
        self,
        request: IllRequest,
        seq: int,
        action: str,
        *,
        at: datetime | None = None,
        note: str | None = None,
    ) -> IllRequesterMessage:
        """What the requester says, as the broker forwards it (numbered by the broker)."""
        return IllRequesterMessage(
            transaction_id=request.transaction_id,
            seq=seq,
            requester=request.requester,
            action=action,  # type: ignore[arg-type]
            occurred_at=at or self.clock.now(),
            note=note,
        )

    async def deliver(
        self, payload: Any, *, message_id: str | None = None, dead_letter: bool = False
    ) -> str:
        """Publish ``payload`` to the library's queue as the broker does, and wait until the
        library's consumer has processed it (or, ``dead_letter``, refused it into its
        dead-letter queue). Returns the message id."""
        env = make_envelope(
            payload,
            sender=BROKER,
            correlation_id=payload.transaction_id,
            clock=self.clock,
            recipient=circulation_address(self.library),
        )
        if message_id is not None:
            env = env.model_copy(update={"message_id": message_id})
        await self.broker.handle(BROKER).publish(
            DIRECT,
            circulation_address(self.library),
            env.model_dump_json().encode(),
            message_id=env.message_id,
            correlation_id=env.correlation_id,
        )
        for _ in range(500):
            if self.broker.depth(self.queue) == 0:
                break
            await asyncio.sleep(0.01)
        assert self.broker.depth(self.queue) == 0, "the library did not process the message"
        dead = self.broker.depth(f"{self.queue}.dlq")
        assert dead == (1 if dead_letter else 0), f"{dead} messages dead-lettered"
        return env.message_id

    async def answers(self, transaction_id: str, type_: str = "ill.supplier_message") -> list:
        """What the library sent the broker about the transaction, in order."""
        return [
            e
            for e in await self.messages(type_)
            if e["correlation_id"] == transaction_id and e["recipient"] == BROKER
        ]

    async def lending(self, transaction_id: str) -> dict:
        res = await self.get(f"/api/v1/ill/lending/{transaction_id}")
        assert res.status_code == 200, res.text
        return res.json()

    async def history(self, transaction_id: str) -> list[Any]:
        async with self.runtime.engine.connect() as conn:
            query = (
                select(ill_history)
                .where(ill_history.c.transaction_id == transaction_id)
                .order_by(ill_history.c.id)
            )
            return list((await conn.execute(query)).all())

    async def item(self, item_id: str) -> dict:
        res = await self.get(f"/api/v1/items/{item_id}")
        assert res.status_code == 200, res.text
        return res.json()


@contextlib.asynccontextmanager
async def open_lender(
    database_url: str, clock: ManualClock, library: str, *, auto_accept: bool = True
):
    """One lending library's app and queue consumer on the in-process bus, staff signed in.
    ``auto_accept=False`` stands for a library whose policy leaves every request to staff."""
    broker = MemoryBroker()
    broker.declare(federation_queues(default_federation()))
    rt = build_runtime(library, database_url, broker.handle(library), clock, hasher=CHEAP_HASHER)
    if not auto_accept:
        policy = rt.library.policy
        rt.lib = dataclasses.replace(
            rt.library,
            policy=policy.model_copy(
                update={"ill": IllTerms(auto_accept=False, **_kept(policy.ill))}
            ),
        )
        for consumer in rt.consumers:
            consumer.context = rt.lib
    app = create_app(rt, default_federation(), DEV_SECRET)
    consumer = rt.consumers[0]
    await consumer.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{library}.test") as c:
            desk = Lender(c, rt, clock)
            desk.broker = broker
            await desk.login_staff()
            yield desk
    finally:
        await consumer.stop()
        await rt.engine.dispose()


def _kept(terms: IllTerms) -> dict:
    return {"unavailable_rule": terms.unavailable_rule}
