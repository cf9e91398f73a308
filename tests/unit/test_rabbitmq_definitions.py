"""The committed broker definitions file is what the topology code declares."""

from __future__ import annotations

import json

from deploy.queues import federation_queues
from deploy.rabbitmq_definitions import DEFAULT_OUT, render
from libs.common.federation import default_federation
from libs.common.messaging.definitions import password_hash
from libs.common.messaging.topology import topology


def test_the_committed_definitions_file_is_the_one_the_topology_generates():
    assert DEFAULT_OUT.read_text() == render(), (
        "deploy/rabbitmq/definitions.json is out of date: run `make definitions`"
    )


def test_the_definitions_hold_every_queue_exchange_and_binding_of_the_topology():
    fed = default_federation()
    specs = federation_queues(fed)
    doc = json.loads(render())
    plan = topology(specs)
    assert [q["name"] for q in doc["queues"]] == [q.name for q in plan.queues]
    assert {e["name"] for e in doc["exchanges"]} == {e.name for e in plan.exchanges}
    assert len(doc["bindings"]) == len(plan.bindings)
    assert {u["name"] for u in doc["users"]} == {f"illfed-{lib.code}" for lib in fed.libraries} | {
        "illfed-catalog",
        "illfed-requests",
        "illfed-notifier",
    }
    # No secret in the committed file: users have no password until a deployment gives one.
    assert {u["password_hash"] for u in doc["users"]} == {""}


def test_a_password_hash_is_rabbitmqs_salted_sha256():
    # RabbitMQ's documented example: password "test12", salt 0x908DC60A.
    assert password_hash("test12", bytes.fromhex("908DC60A")) == (
        "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    )
