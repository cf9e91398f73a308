"""What a consumer is handed for each message, whichever bus carried it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Delivery:
    body: bytes
    queue: str
    message_id: str | None
    #: the sender identity the broker vouched for (RabbitMQ validates user_id)
    user_id: str | None
    headers: dict[str, Any] = field(default_factory=dict)
    #: how many times this message was delivered before this delivery
    delivery_count: int = 0
    # Every bus sets both; the None default only lets a test build a Delivery by hand.
    ack: Callable[[], Awaitable[None]] = field(default=None, repr=False)  # type: ignore[assignment]
    nack: Callable[[], Awaitable[None]] = field(default=None, repr=False)  # type: ignore[assignment]


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


class Subscription(Protocol):
    queue: str

    @property
    def live(self) -> bool:
        """Messages of the queue are being delivered to this consumer right now."""
        ...

    async def stop(self) -> None: ...


class Bus(Protocol):
    """A message bus as one principal sees it (RabbitMQ or the in-process bus)."""

    principal: str

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
        """Publish persistently and return once the broker confirmed it; raises if the
        message was not accepted or could not be routed to any queue."""
        ...

    async def consume(
        self, queue: str, handler: DeliveryHandler, *, prefetch: int
    ) -> Subscription: ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a delivery to its queue's dead-letter queue with the reason, then ack it."""
        ...

    async def retry(self, delivery: Delivery, delay: float, headers: dict[str, Any]) -> None:
        """Put a copy of the delivery (with ``headers``) back into its queue after ``delay``
        seconds, then ack the delivery."""
        ...

    async def ping(self) -> bool:
        """The connection to the broker is up."""
        ...

    async def close(self) -> None: ...


class Unroutable(RuntimeError):
    """No queue is bound for the message: publishing it would lose it."""
