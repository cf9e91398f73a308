"""The in-process bus of the embedded federation, with RabbitMQ's delivery semantics: a
message stays in its queue until acked, a nack or a stopped consumer puts it back with its
delivery count raised, past the delivery limit it is dead-lettered, a failed message comes
back after a delay (as from RabbitMQ's retry queue), and dead letters carry their reason.
Each service gets a handle bound to its own identity, like its own broker user.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from libs.common.messaging.delivery import Delivery, DeliveryHandler, Unroutable
from libs.common.messaging.topology import DIRECT, DLX, EVENTS, QueueSpec, broker_user


@dataclass
class _Message:
    body: bytes
    message_id: str
    user_id: str
    correlation_id: str | None
    headers: dict[str, Any]
    delivery_count: int = 0
    tag: int = 0


@dataclass
class _Queue:
    spec: QueueSpec | None
    name: str
    ready: deque[_Message] = field(default_factory=deque)
    unacked: dict[int, _Message] = field(default_factory=dict)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)


def _topic_match(pattern: str, key: str) -> bool:
    p, k = pattern.split("."), key.split(".")
    if "#" in p:
        return True  # the federation only binds "#" as catch-all
    return len(p) == len(k) and all(a in ("*", b) for a, b in zip(p, k, strict=True))


class MemoryBroker:
    """The shared in-process broker; call :meth:`handle` for one principal's view of it."""

    def __init__(self, retry_scale: float = 1.0) -> None:
        self.queues: dict[str, _Queue] = {}
        self.bindings: list[tuple[str, str, str]] = []  # exchange, key, queue
        self._tags = itertools.count(1)
        #: retry copies waiting for their delay, per queue (counted in :meth:`depth`)
        self.waiting: dict[str, int] = {}
        self._timers: set[asyncio.Task] = set()
        #: the in-process bus may shorten retry delays (tests, demos): delay * retry_scale
        self.retry_scale = retry_scale

    def declare(self, specs: list[QueueSpec]) -> None:
        for spec in specs:
            if spec.name not in self.queues:
                self.queues[spec.name] = _Queue(spec, spec.name)
                self.queues[spec.dlq] = _Queue(None, spec.dlq)
                for exchange, key in spec.bindings:
                    self.bindings.append((exchange, key, spec.name))

    def handle(self, principal: str) -> MemoryBus:
        return MemoryBus(self, principal)

    def _route(self, exchange: str, key: str) -> list[str]:
        if exchange == "":
            return [key] if key in self.queues else []
        out = []
        for ex, pattern, queue in self.bindings:
            if ex != exchange:
                continue
            if (exchange == EVENTS and _topic_match(pattern, key)) or pattern == key:
                out.append(queue)
        if exchange == DLX and key in self.queues:
            out.append(key)
        return out

    async def _enqueue(self, queue: str, msg: _Message) -> None:
        q = self.queues[queue]
        async with q.arrived:
            q.ready.append(msg)
            q.arrived.notify()

    async def _requeue(self, q: _Queue, msg: _Message) -> None:
        msg.delivery_count += 1
        spec = q.spec
        if spec is not None and msg.delivery_count > spec.delivery_limit:
            msg.headers = {
                **msg.headers,
                "x-illfed-reason": "delivery limit reached",
                "x-illfed-queue": q.name,
            }
            await self._enqueue(spec.dlq, msg)
            return
        async with q.arrived:
            q.ready.appendleft(msg)
            q.arrived.notify()

    def _later(self, delay: float, queue: str, msg: _Message) -> None:
        """Enqueue ``msg`` after ``delay`` seconds, like RabbitMQ's retry queue with a TTL."""
        self.waiting[queue] = self.waiting.get(queue, 0) + 1

        async def wait_then_enqueue() -> None:
            try:
                await asyncio.sleep(delay * self.retry_scale)
                await self._enqueue(queue, msg)
            finally:
                self.waiting[queue] -= 1

        task = asyncio.create_task(wait_then_enqueue())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def depth(self, queue: str) -> int:
        q = self.queues[queue]
        return len(q.ready) + len(q.unacked) + self.waiting.get(queue, 0)

    def peek(self, queue: str) -> list[_Message]:
        return list(self.queues[queue].ready)


class _MemorySubscription:
    def __init__(self, queue: str, tasks: list[asyncio.Task]) -> None:
        self.queue = queue
        self._tasks = tasks

    @property
    def live(self) -> bool:
        """In one process nothing comes between bus and consumer: live until stopped."""
        return any(not t.done() for t in self._tasks)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


class MemoryBus:
    def __init__(self, broker: MemoryBroker, principal: str) -> None:
        self.broker = broker
        self.principal = principal
        self.user_id = broker_user(principal)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if exchange not in (EVENTS, DIRECT, DLX, ""):
            raise Unroutable(f"no exchange {exchange!r}")
        targets = self.broker._route(exchange, routing_key)
        if not targets:
            raise Unroutable(f"no queue bound to {exchange}/{routing_key}")
        for queue in targets:
            # Each queue gets its own copy, as RabbitMQ would.
            await self.broker._enqueue(
                queue,
                _Message(
                    body=bytes(body),
                    message_id=message_id,
                    user_id=self.user_id,
                    correlation_id=correlation_id,
                    headers=dict(headers or {}),
                ),
            )

    async def consume(self, queue: str, handler: DeliveryHandler, *, prefetch: int = 10):
        q = self.broker.queues[queue]
        tasks = [asyncio.create_task(self._worker(q, handler)) for _ in range(max(1, prefetch))]
        return _MemorySubscription(queue, tasks)

    async def _worker(self, q: _Queue, handler: DeliveryHandler) -> None:
        while True:
            async with q.arrived:
                while not q.ready:
                    await q.arrived.wait()
                msg = q.ready.popleft()
                msg.tag = next(self.broker._tags)
                q.unacked[msg.tag] = msg
            settled = False

            async def ack(msg: _Message = msg) -> None:
                nonlocal settled
                settled = True
                q.unacked.pop(msg.tag, None)

            async def nack(msg: _Message = msg) -> None:
                nonlocal settled
                settled = True
                if q.unacked.pop(msg.tag, None) is not None:
                    await self.broker._requeue(q, msg)

            delivery = Delivery(
                body=msg.body,
                queue=q.name,
                message_id=msg.message_id,
                user_id=msg.user_id,
                headers=dict(msg.headers),
                delivery_count=msg.delivery_count,
                ack=ack,
                nack=nack,
            )
            try:
                await handler(delivery)
            except asyncio.CancelledError:
                # A consumer stopped mid-message: the broker gives the message to the next one.
                if not settled:
                    await nack()
                raise
            except Exception:
                if not settled:
                    await nack()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = {
            **delivery.headers,
            "x-illfed-reason": reason[:2000],
            "x-illfed-queue": delivery.queue,
        }
        q = self.broker.queues[delivery.queue]
        dlq = q.spec.dlq if q.spec else f"{delivery.queue}.dlq"
        await self.broker._enqueue(
            dlq,
            _Message(
                body=delivery.body,
                message_id=delivery.message_id or "",
                user_id=delivery.user_id or "",
                correlation_id=None,
                headers=headers,
                delivery_count=delivery.delivery_count,
            ),
        )
        await delivery.ack()

    async def retry(self, delivery: Delivery, delay: float, headers: dict[str, Any]) -> None:
        # The copy is stamped with this consumer's own identity, as on RabbitMQ.
        copy = _Message(
            body=delivery.body,
            message_id=delivery.message_id or "",
            user_id=self.user_id,
            correlation_id=None,
            headers=dict(headers),
        )
        self.broker._later(delay, delivery.queue, copy)
        await delivery.ack()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
