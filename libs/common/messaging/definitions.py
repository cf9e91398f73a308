"""The federation on the broker as a RabbitMQ definitions document: its virtual host, one
user per principal, their permissions and topic permissions, and every exchange, queue and
binding, all taken from :mod:`libs.common.messaging.topology`.

A cluster loads it at boot (``load_definitions``) or an operator imports it
(``rabbitmqctl import_definitions``). Without passwords each user has an empty password hash
(it cannot log in) and the document holds no secret: the committed
``deploy/rabbitmq/definitions.json`` is that. With passwords each user gets RabbitMQ's salted
SHA-256 hash of its own.
"""

from __future__ import annotations

import base64
import hashlib
import os

from libs.common.federation import Federation
from libs.common.messaging.topology import QueueSpec, permissions, topology

HASHING = "rabbit_password_hashing_sha256"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's own password hash: base64(salt + sha256(salt + password)), salt 4 bytes."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(
    fed: Federation,
    specs: list[QueueSpec],
    vhost: str = "illfed",
    passwords: dict[str, str] | None = None,
    admin_user: str | None = None,
) -> dict:
    """``passwords`` maps a broker user to its password; ``admin_user`` (an existing user,
    not defined here) is given every permission on the virtual host, for the deployer."""
    perms = permissions(fed, specs)
    plan = topology(specs)
    users = [
        {
            "name": p.user,
            # A user without a password here (none given, or not one of those set up now)
            # gets an empty hash: it cannot sign in until its password is set.
            "password_hash": password_hash(passwords[p.user])
            if passwords and p.user in passwords
            else "",
            "hashing_algorithm": HASHING,
            "tags": [],
            "limits": {},
        }
        for p in perms
    ]
    granted = [
        {"user": p.user, "vhost": vhost, "configure": p.configure, "write": p.write, "read": p.read}
        for p in perms
    ]
    if admin_user:
        granted.append(
            {"user": admin_user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        )
    return {
        "vhosts": [{"name": vhost}],
        "users": users,
        "permissions": granted,
        "topic_permissions": [
            {"user": p.user, "vhost": vhost, "exchange": ex, "write": keys, "read": keys}
            for p in perms
            for ex, keys in p.topics.items()
        ],
        "exchanges": [
            {
                "name": ex.name,
                "vhost": vhost,
                "type": ex.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for ex in plan.exchanges
        ],
        "queues": [
            {
                "name": q.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": q.arguments,
            }
            for q in plan.queues
        ],
        "bindings": [
            {
                "source": b.exchange,
                "vhost": vhost,
                "destination": b.queue,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": {},
            }
            for b in plan.bindings
        ],
    }
