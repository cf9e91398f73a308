"""Retrying a failed message later, with growing delays, before it is parked.

A message whose handler failed (the database blinked, a lock timed out) is acked and a copy
is put back for a later attempt: on RabbitMQ into the queue's retry queue with a per-message
TTL, from which the broker dead-letters it back to the work queue when the delay is over; on
the in-process bus after a timer. The copy carries how many attempts failed so far and the
broker login that was validated when the message first arrived: the copy itself is stamped
with the consumer's own login, so only a header that login set can vouch for the original
sender (see :func:`vouched_user`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from libs.common.messaging.delivery import Delivery

ATTEMPT_HEADER = "x-illfed-attempt"
RETRY_USER_HEADER = "x-illfed-retry-user"
# What the broker adds when it dead-letters or redelivers; a fresh copy starts without them.
_BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt n+1 after n failed attempts: ``base * factor**(n-1)``, capped."""

    base: float = 0.5
    factor: float = 4.0
    cap: float = 60.0

    def delay(self, failed_attempts: int) -> float:
        return min(self.cap, self.base * self.factor ** max(0, failed_attempts - 1))


DEFAULT_RETRY = RetryPolicy()


def own_copy(delivery: Delivery, own_user: str | None) -> bool:
    """The delivery is a retry copy this consumer's own login put back."""
    return bool(own_user) and delivery.user_id == own_user and RETRY_USER_HEADER in delivery.headers


def vouched_user(delivery: Delivery, own_user: str | None) -> str | None:
    """The broker login vouching for the message: the one RabbitMQ validated, or, for a copy
    this consumer put back for a retry, the one validated when the message first arrived.
    A header set by anyone else's login is ignored: a library cannot pose as another."""
    if own_copy(delivery, own_user):
        return str(delivery.headers[RETRY_USER_HEADER])
    return delivery.user_id


def failed_before(delivery: Delivery, own_user: str | None) -> int:
    """Attempts that failed before this one: those of earlier copies plus the broker's own
    redeliveries of this copy (a consumer that died mid-message)."""
    earlier = 0
    if own_copy(delivery, own_user):
        try:
            earlier = int(delivery.headers.get(ATTEMPT_HEADER) or 0)
        except (TypeError, ValueError):
            earlier = 0
    return earlier + delivery.delivery_count


def retry_headers(delivery: Delivery, failed: int, original_user: str | None) -> dict[str, Any]:
    headers = {k: v for k, v in delivery.headers.items() if not k.startswith(_BROKER_HEADERS)}
    headers[ATTEMPT_HEADER] = failed
    headers[RETRY_USER_HEADER] = original_user or ""
    return headers
