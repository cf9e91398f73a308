"""Messaging plumbing: contracts travel in envelopes through an outbox, a bus (RabbitMQ or
in-process) and idempotent consumers. See :mod:`.outbox`, :mod:`.consumer`, :mod:`.topology`."""

from __future__ import annotations

from libs.common.messaging.delivery import Bus
from libs.common.messaging.memory import MemoryBroker
from libs.common.messaging.rabbit import RabbitBus, principal_url
from libs.common.settings import derived_secret


def broker_password(secret_key: str, principal: str) -> str:
    """A principal's broker password, derived from the deployment secret."""
    return derived_secret(secret_key, f"broker:{principal}")


async def connect_bus(
    bus_url: str, principal: str, secret_key: str, broker: MemoryBroker | None = None
) -> Bus:
    """The bus as ``principal`` sees it: the in-process broker's handle, or a RabbitMQ
    connection logged in as the principal's own broker user."""
    if bus_url == "memory":
        if broker is None:
            raise ValueError("the in-process bus needs the broker of the embedded federation")
        return broker.handle(principal)
    url = principal_url(bus_url, principal, broker_password(secret_key, principal))
    return await RabbitBus(url, principal).connect()
