"""Exchanges, queues and broker identities of the federation.

Broadcast events go to a topic exchange keyed by message type; commands addressed to one
service or library go to a direct exchange keyed by the recipient. Every consumer queue is a
durable quorum queue with a delivery limit, its own dead-letter queue and its own retry
queue (failed messages wait there, growing delays, before another attempt).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.common.federation import Federation

EVENTS = "illfed.events"
DIRECT = "illfed.direct"
DLX = "illfed.dlx"
USER_PREFIX = "illfed-"
DEFAULT_DELIVERY_LIMIT = 5
#: the consortium's own services (every other principal is a member library)
SHARED_SERVICES = ("catalog", "requests", "notifier")


@dataclass(frozen=True)
class QueueSpec:
    name: str
    owner: str  # the principal allowed to read it
    bindings: tuple[tuple[str, str], ...] = field(default=())
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    @property
    def dlq(self) -> str:
        return dlq_name(self.name)

    @property
    def retry(self) -> str:
        return retry_name(self.name)


def dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def retry_name(queue: str) -> str:
    """Where a failed message waits (its per-message TTL) before going back to ``queue``."""
    return f"{queue}.retry"


def circulation_principal(library: str) -> str:
    """A library's circulation service speaks on the bus as the library itself."""
    return library


def circulation_address(library: str) -> str:
    return f"circulation.{library}"


def broker_user(principal: str) -> str:
    """The RabbitMQ user a principal (library code or shared service) connects as."""
    return f"{USER_PREFIX}{principal}"


def principal_of(user_id: str | None) -> str | None:
    if not user_id or not user_id.startswith(USER_PREFIX):
        return None
    return user_id[len(USER_PREFIX) :]


def federation_queues(fed: Federation) -> list[QueueSpec]:
    queues = [
        QueueSpec("catalog.items", "catalog", ((EVENTS, "item.changed"),)),
        QueueSpec("requests.inbox", "requests", ((DIRECT, "requests"),)),
        QueueSpec("notifier.notices", "notifier", ((DIRECT, "notifier"),)),
    ]
    for lib in fed.libraries:
        address = circulation_address(lib.code)
        queues.append(QueueSpec(f"{address}.inbox", lib.code, ((DIRECT, address),)))
    return queues


def principals(fed: Federation) -> list[str]:
    return [*SHARED_SERVICES, *(lib.code for lib in fed.libraries)]
