"""The federation's queues with the bindings their consumers' handler maps ask for.

Each service keeps its handler map (contract class → handler) next to its consumer, in its
``runtime`` module; the shared library cannot read them (it depends on no service), so they
are put together here, where the federation is assembled, for the broker definitions, the
deployer's declarations and the tests' brokers. A message type added to a handler map is
bound to its queue with no other change.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from libs.common.federation import Federation
from libs.common.messaging import topology
from libs.common.messaging.topology import (
    CATALOG_QUEUE,
    NOTIFIER_QUEUE,
    REQUESTS_QUEUE,
    QueueSpec,
    circulation_queue,
)
from services.catalog import runtime as catalog
from services.circulation import runtime as circulation
from services.notifier import runtime as notifier
from services.requests import runtime as requests


def consumes(fed: Federation) -> dict[str, Iterable[type[BaseModel]]]:
    """The contract classes each queue's consumer handles, by queue name."""
    return {
        CATALOG_QUEUE: catalog.HANDLERS,
        REQUESTS_QUEUE: requests.HANDLERS,
        NOTIFIER_QUEUE: notifier.HANDLERS,
        **{circulation_queue(lib.code): circulation.HANDLERS for lib in fed.libraries},
    }


def federation_queues(fed: Federation) -> list[QueueSpec]:
    """Every queue of the federation, bound as its consumer's handler map says."""
    return topology.federation_queues(fed, consumes(fed))
