"""RabbitMQ transport with aio-pika: persistent messages, publisher confirms, mandatory
routing, manual acks, prefetch, quorum queues with a delivery limit and a dead-letter queue
each. Each principal connects as its own broker user, and RabbitMQ checks the ``user_id`` it
stamps on every message against that login, so a sender cannot pose as another library."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from yarl import URL

from libs.common.messaging.delivery import Delivery, DeliveryHandler, Unroutable
from libs.common.messaging.topology import DLX, QueueSpec, broker_user, retry_name, topology

log = structlog.get_logger("illfed.bus")


def principal_url(base_url: str, principal: str, password: str) -> str:
    """The AMQP URL a principal connects with: the base URL's host and vhost, its own login."""
    u = URL(base_url)
    return str(u.with_user(broker_user(principal)).with_password(password))


class _RabbitSubscription:
    """A consumer on a robust channel: aio-pika re-opens the channel, re-declares the queue
    (passively) and re-registers the consumer after the connection comes back."""

    def __init__(self, channel: aio_pika.abc.AbstractRobustChannel, queue, tag: str) -> None:
        self._channel, self._queue, self._tag = channel, queue, tag
        self.queue: str = queue.name
        self._stopped = False
        self._lost = False
        channel.close_callbacks.add(self._on_lost)
        channel.reopen_callbacks.add(self._on_restored)

    @property
    def live(self) -> bool:
        """The broker is delivering this queue's messages to us right now."""
        if self._stopped or self._lost or self._channel.is_closed:
            return False
        underlay = getattr(self._channel, "_channel", None)  # aio-pika's aiormq channel
        consumers = getattr(getattr(underlay, "channel", None), "consumers", None)
        return consumers is None or self._tag in consumers

    def _on_lost(self, _channel: object, exc: BaseException | None = None) -> None:
        if self._stopped or self._lost:
            return
        self._lost = True
        log.warning("consumer lost", queue=self.queue, error=_describe(exc))

    def _on_restored(self, *_: object) -> None:
        if self._stopped or not self._lost:
            return
        self._lost = False
        log.info("consumer restored", queue=self.queue)

    async def stop(self) -> None:
        self._stopped = True
        if not self._channel.is_closed:
            await self._queue.cancel(self._tag)
        # Closing the channel returns unacked messages to the queue for another consumer, and
        # tells aio-pika not to bring this consumer back if the connection is down right now.
        with contextlib.suppress(Exception):
            await self._channel.close()


def _describe(exc: BaseException | None) -> str | None:
    return None if exc is None else f"{type(exc).__name__}: {exc}"


class RabbitBus:
    #: seconds between reconnection attempts after the broker went away
    reconnect_interval: float = 1.0
    #: a publish not confirmed within this many seconds fails (the outbox keeps the row)
    publish_timeout: float = 10.0

    def __init__(self, url: str, principal: str) -> None:
        self.url = url
        self.principal = principal
        self.user_id = URL(url).user or ""
        self._conn: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._lock = asyncio.Lock()
        self._closing = False

    async def connect(self) -> RabbitBus:
        self._conn = await aio_pika.connect_robust(
            self.url,
            client_properties={"connection_name": f"illfed:{self.principal}"},
            reconnect_interval=self.reconnect_interval,
        )
        self._conn.close_callbacks.add(self._on_connection_lost)
        self._conn.reconnect_callbacks.add(self._on_reconnected)
        # A robust channel: after a reconnect aio-pika re-opens it with confirms, and the
        # exchanges looked up through it (passively) are looked up again.
        self._channel = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
        return self

    def _on_connection_lost(self, _conn: object, exc: BaseException | None = None) -> None:
        if not self._closing:
            log.warning("broker connection lost", principal=self.principal, error=_describe(exc))

    def _on_reconnected(self, *_: object) -> None:
        log.info("broker connection restored", principal=self.principal)

    def _open(self) -> tuple[AbstractRobustConnection, aio_pika.abc.AbstractChannel]:
        if self._conn is None or self._channel is None:
            raise RuntimeError(f"the bus of {self.principal} is used before connect()")
        return self._conn, self._channel

    async def _exchange(self, name: str) -> aio_pika.abc.AbstractExchange:
        _, channel = self._open()
        if name == "":
            return channel.default_exchange
        ex = self._exchanges.get(name)
        if ex is None:
            # Passive: the topology is declared once by the deployer, not by each service.
            ex = await channel.declare_exchange(name, passive=True)
            self._exchanges[name] = ex
        return ex

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
        ex = await self._exchange(exchange)
        msg = aio_pika.Message(
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            user_id=self.user_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers or {},
        )
        try:
            await ex.publish(
                msg, routing_key=routing_key, mandatory=True, timeout=self.publish_timeout
            )
        except aio_pika.exceptions.DeliveryError as exc:
            raise Unroutable(f"broker did not take {exchange}/{routing_key}: {exc}") from exc

    async def consume(self, queue: str, handler: DeliveryHandler, *, prefetch: int = 10):
        conn, _ = self._open()
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=prefetch)
        # Declared passively through the robust channel (not looked up with ensure=False), so
        # that aio-pika restores the queue and its consumer after a reconnect.
        q = await channel.declare_queue(queue, passive=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            settled = False

            async def ack() -> None:
                nonlocal settled
                settled = True
                await message.ack()

            async def nack() -> None:
                nonlocal settled
                settled = True
                await message.nack(requeue=True)

            headers = dict(message.headers or {})
            delivery = Delivery(
                body=message.body,
                queue=queue,
                message_id=message.message_id,
                user_id=message.user_id,
                headers=headers,
                delivery_count=_count(headers.get("x-delivery-count")),
                ack=ack,
                nack=nack,
            )
            try:
                await handler(delivery)
            except Exception:
                if not settled and not channel.is_closed:
                    await message.nack(requeue=True)

        tag = await q.consume(on_message, no_ack=False)
        return _RabbitSubscription(channel, q, tag)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = {k: v for k, v in delivery.headers.items() if not k.startswith("x-death")}
        headers.update({"x-illfed-reason": reason[:2000], "x-illfed-queue": delivery.queue})
        await self.publish(
            DLX,
            f"{delivery.queue}.dlq",
            delivery.body,
            message_id=delivery.message_id or "",
            headers=headers,
        )
        # Acked only after the broker confirmed the dead letter: nothing lost in between.
        await delivery.ack()

    async def retry(self, delivery: Delivery, delay: float, headers: dict[str, Any]) -> None:
        ex = await self._exchange(DLX)
        msg = aio_pika.Message(
            delivery.body,
            message_id=delivery.message_id,
            user_id=self.user_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
            # The retry queue dead-letters the copy back to the work queue when this expires.
            expiration=max(delay, 0.001),
        )
        try:
            await ex.publish(
                msg,
                routing_key=retry_name(delivery.queue),
                mandatory=True,
                timeout=self.publish_timeout,
            )
        except aio_pika.exceptions.DeliveryError as exc:
            raise Unroutable(f"no retry queue for {delivery.queue}: {exc}") from exc
        # Acked only after the broker confirmed the copy: nothing lost in between.
        await delivery.ack()

    async def ping(self) -> bool:
        """The connection to the broker is up (not closed, not between reconnects)."""
        conn = self._conn
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            await self._conn.close()


def _count(value: object) -> int:
    """RabbitMQ's x-delivery-count header (an integer; anything else counts as none)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def declare_topology(admin_url: str, specs: list[QueueSpec]) -> None:
    """Declare exchanges, quorum queues with delivery limits, their dead-letter queues and
    the bindings, as :func:`~libs.common.messaging.topology.topology` lists them."""
    plan = topology(specs)
    conn = await aio_pika.connect(admin_url)
    try:
        ch = await conn.channel()
        for ex in plan.exchanges:
            await ch.declare_exchange(ex.name, aio_pika.ExchangeType(ex.type), durable=True)
        for q in plan.queues:
            await ch.declare_queue(q.name, durable=True, arguments=q.arguments)
        for b in plan.bindings:
            queue = await ch.get_queue(b.queue, ensure=False)
            await queue.bind(b.exchange, routing_key=b.routing_key)
    finally:
        await conn.close()
