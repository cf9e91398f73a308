"""Exchanges, queues and broker identities of the federation.

Broadcast events go to a topic exchange keyed by message type; commands addressed to one
service or library go to the command exchange keyed by the recipient. Every consumer queue is a
durable quorum queue with a delivery limit, its own dead-letter queue and its own retry
queue (failed messages wait there, growing delays, before another attempt).

The command exchange is a topic exchange too (its bindings are exact names, so it routes as a
direct one would): RabbitMQ checks topic permissions on routing keys only for topic exchanges,
and that is what keeps a library from addressing another library's queue.

A queue's bindings come from its consumer's handler map (:meth:`ConsumerQueue.spec`): each
event contract it handles binds it to that event's type; commands reach it by its address.
:func:`topology` lists every exchange, queue and binding, and :func:`permissions` what each
principal may read and write; the deployer declares the former over AMQP
(``declare_topology``) and both go into the broker definitions file
(``python -m deploy.rabbitmq_definitions``), so the two never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from libs.common.contracts.registry import kind_of, type_of
from libs.common.federation import Federation

EVENTS = "illfed.events"
COMMANDS = "illfed.commands"
DIRECT = COMMANDS  # its former name; a direct exchange could not check routing keys
DLX = "illfed.dlx"
EXCHANGE_TYPES = {EVENTS: "topic", COMMANDS: "topic", DLX: "direct"}
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


CATALOG_QUEUE = "catalog.items"
REQUESTS_QUEUE = "requests.inbox"
NOTIFIER_QUEUE = "notifier.notices"


def circulation_queue(library: str) -> str:
    return f"{circulation_address(library)}.inbox"


@dataclass(frozen=True)
class ConsumerQueue:
    """Where one consumer reads: the queue, the principal allowed to read it, and the address
    commands to it are sent to (``None``: it takes events only). What it is bound to comes
    from its consumer's handler map (:meth:`spec`)."""

    name: str
    owner: str
    address: str | None = None

    @property
    def dlq(self) -> str:
        return dlq_name(self.name)

    def spec(self, consumes: Iterable[type[BaseModel]]) -> QueueSpec:
        """The queue bound for the contracts its handler map takes: each event on the events
        exchange by its type; commands on the commands exchange by the queue's address.

        An addressed queue is bound to its address even before it handles any command: a
        command sent there with no handler yet is dead-lettered with the reason, not lost."""
        bindings: list[tuple[str, str]] = []
        if self.address is not None:
            bindings.append((COMMANDS, self.address))
        for model in consumes:
            if kind_of(model) == "event":
                if (EVENTS, type_of(model)) not in bindings:
                    bindings.append((EVENTS, type_of(model)))
            elif self.address is None:
                raise ValueError(
                    f"{self.name} handles the command {type_of(model)} but has no address "
                    "to send it to"
                )
        return QueueSpec(self.name, self.owner, tuple(bindings))


def federation_consumers(fed: Federation) -> list[ConsumerQueue]:
    """Every consumer's queue: the shared services' and each library's circulation."""
    queues = [
        ConsumerQueue(CATALOG_QUEUE, "catalog"),
        ConsumerQueue(REQUESTS_QUEUE, "requests", "requests"),
        ConsumerQueue(NOTIFIER_QUEUE, "notifier", "notifier"),
    ]
    for lib in fed.libraries:
        address = circulation_address(lib.code)
        queues.append(ConsumerQueue(circulation_queue(lib.code), lib.code, address))
    return queues


def federation_queues(
    fed: Federation, consumes: Mapping[str, Iterable[type[BaseModel]]]
) -> list[QueueSpec]:
    """Every queue with its bindings: ``consumes`` gives, by queue name, the contract classes
    its consumer's handler map takes (the services' own maps; see ``deploy.queues``)."""
    queues = federation_consumers(fed)
    missing = [q.name for q in queues if q.name not in consumes]
    unknown = set(consumes) - {q.name for q in queues}
    if missing or unknown:
        raise ValueError(
            f"handler maps for the federation's queues: none for {missing}, "
            f"no such queue {sorted(unknown)}"
        )
    return [q.spec(consumes[q.name]) for q in queues]


def principals(fed: Federation) -> list[str]:
    return [*SHARED_SERVICES, *(lib.code for lib in fed.libraries)]


def shared_addresses() -> tuple[str, ...]:
    """The shared services anybody may send a command to."""
    return ("requests", "notifier")


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]


def topology(specs: list[QueueSpec]) -> Topology:
    """Every exchange, queue (with its arguments) and binding the federation needs, in the
    order they must be declared."""
    exchanges = tuple(Exchange(name, kind) for name, kind in EXCHANGE_TYPES.items())
    queues: list[Queue] = []
    bindings: list[Binding] = []
    for spec in specs:
        queues.append(Queue(spec.dlq, {"x-queue-type": "quorum"}))
        bindings.append(Binding(DLX, spec.dlq, spec.dlq))
        queues.append(
            Queue(
                spec.name,
                {
                    "x-queue-type": "quorum",
                    # Safety net: a message that keeps failing is parked, never redelivered
                    # forever.
                    "x-delivery-limit": spec.delivery_limit,
                    "x-dead-letter-exchange": DLX,
                    "x-dead-letter-routing-key": spec.dlq,
                },
            )
        )
        bindings += [Binding(exchange, spec.name, key) for exchange, key in spec.bindings]
        queues.append(
            Queue(
                spec.retry,
                {
                    "x-queue-type": "quorum",
                    # Nobody consumes it: each message waits its own TTL (the retry delay),
                    # then the broker moves it back to the work queue, confirmed.
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": spec.name,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
        )
        bindings.append(Binding(DLX, spec.retry, spec.retry))
    return Topology(exchanges, tuple(queues), tuple(bindings))


# ---------------------------------------------------------------- permissions


@dataclass(frozen=True)
class Permission:
    """What one broker user may do in the federation's virtual host (regular expressions, as
    RabbitMQ takes them); ``topics`` maps a topic exchange to the routing keys it may publish."""

    user: str
    configure: str
    write: str
    read: str
    topics: dict[str, str]


def _alternatives(patterns: list[str]) -> str:
    return "^(" + "|".join(patterns) + ")$" if patterns else "^$"


def _read_pattern(principal: str, specs: list[QueueSpec]) -> str:
    names = [re.escape(s.name) for s in specs if s.owner == principal]
    if principal == "requests":
        # The broker serves the operator dashboard: it reads every dead-letter queue.
        names.append(r".*\.dlq")
    if not names:
        return "^$"
    return "^(" + "|".join(names) + r")(\.dlq)?$"


def _command_keys(principal: str, fed: Federation) -> list[str]:
    """Whom a principal may address: a library the shared services only, the request broker
    (which routes requests between libraries) any library too."""
    shared = [re.escape(a) for a in shared_addresses() if a != principal]
    if principal == "requests":
        return [*shared, *(re.escape(circulation_address(lib.code)) for lib in fed.libraries)]
    return shared


def _event_keys(principal: str, fed: Federation) -> list[str]:
    """Which events a principal may broadcast: a library its items' changes; the shared
    services broadcast none today."""
    if principal in {lib.code for lib in fed.libraries}:
        return [r"item\..+"]
    return []


def permissions(fed: Federation, specs: list[QueueSpec]) -> list[Permission]:
    out = []
    for principal in principals(fed):
        exchanges = [re.escape(EVENTS), re.escape(COMMANDS), re.escape(DLX)]
        if principal == "requests":
            # The broker also replays dead letters straight into their queues.
            exchanges.append(r"amq\.default")
        out.append(
            Permission(
                user=broker_user(principal),
                configure="^$",
                write=_alternatives(exchanges),
                read=_read_pattern(principal, specs),
                topics={
                    EVENTS: _alternatives(_event_keys(principal, fed)),
                    COMMANDS: _alternatives(_command_keys(principal, fed)),
                },
            )
        )
    return out
