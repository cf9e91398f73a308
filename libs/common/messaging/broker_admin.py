"""Setting up RabbitMQ for a federation: a virtual host, one broker user per principal with
permissions that let it read only its own queues and publish only what is its own to send
(see :func:`libs.common.messaging.topology.permissions`), and the topology.

Users and permissions go through ``rabbitmqctl`` (the local broker's own admin tool, no
management plugin needed); exchanges and queues through AMQP.
"""

from __future__ import annotations

import asyncio
import json
import shutil

from yarl import URL

from libs.common.federation import Federation, load_federation
from libs.common.messaging.definitions import definitions
from libs.common.messaging.rabbit import declare_topology
from libs.common.messaging.topology import QueueSpec, broker_user

#: how long one ``rabbitmqctl`` call may take; a broker that does not answer by then is
#: reported, not waited for forever
CTL_TIMEOUT = 120.0


async def _ctl(*args: str, stdin: bytes | None = None, timeout: float = CTL_TIMEOUT) -> str:
    exe = shutil.which("rabbitmqctl") or "rabbitmqctl"
    proc = await asyncio.create_subprocess_exec(
        exe,
        "-q",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(
            f"rabbitmqctl {' '.join(args[:2])} gave no answer in {timeout:.0f} s; "
            "is RabbitMQ running and responsive (rabbitmqctl status)?"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args[:2])} failed: {err.decode().strip()}")
    return out.decode()


async def ensure_vhost(vhost: str, admin_user: str = "guest") -> None:
    existing = (await _ctl("list_vhosts", "name")).split()
    if vhost not in existing:
        await _ctl("add_vhost", vhost)
    await _ctl("set_permissions", "-p", vhost, admin_user, ".*", ".*", ".*")


async def delete_vhost(vhost: str) -> None:
    existing = (await _ctl("list_vhosts", "name")).split()
    if vhost in existing:
        await _ctl("delete_vhost", vhost)


async def ensure_principals(
    vhost: str,
    passwords: dict[str, str],
    specs: list[QueueSpec],
    fed: Federation | None = None,
    admin_user: str | None = None,
) -> None:
    """Create (or update the password of) each principal's broker user and set what it may
    read and write in ``vhost`` and on which routing keys of the topic exchanges, in one
    definitions import (each ``rabbitmqctl`` call costs seconds). The topology is left to
    :func:`setup_broker`'s declarations over AMQP."""
    doc = definitions(
        fed or load_federation(),
        specs,
        vhost,
        passwords={broker_user(p): pw for p, pw in passwords.items()},
        admin_user=admin_user,
    )
    # The virtual host is added on its own first: an import that also adds virtual hosts
    # starts each one from the broker's small definitions worker pool, and two such imports
    # at once (two set-ups of one server) can take every worker and wait on each other.
    await ensure_vhost(vhost, admin_user or "guest")
    doc["vhosts"] = []
    wanted = {broker_user(p) for p in passwords}
    doc["users"] = [u for u in doc["users"] if u["name"] in wanted]
    doc["permissions"] = [p for p in doc["permissions"] if p["user"] in wanted | {admin_user}]
    doc["topic_permissions"] = [p for p in doc["topic_permissions"] if p["user"] in wanted]
    # Exchanges, queues and bindings are declared over AMQP afterwards, one at a time. In the
    # import they are started all at once: with a few hundred members (three quorum queues
    # and a binding each) the import's concurrent binding step stalled a loaded broker for
    # the best part of an hour, other virtual hosts' set-ups with it.
    for kind in ("exchanges", "queues", "bindings"):
        doc[kind] = []
    # On standard input: no file with password hashes left about, none the broker's own
    # system user (which rabbitmqctl may switch to) cannot read.
    await _ctl("import_definitions", "--format", "json", stdin=json.dumps(doc).encode())


async def setup_broker(
    admin_url: str,
    passwords: dict[str, str],
    specs: list[QueueSpec],
    fed: Federation | None = None,
) -> None:
    """Everything a federation needs on the broker, idempotent: vhost, users, topology."""
    vhost = URL(admin_url).path.lstrip("/") or "/"
    await ensure_principals(vhost, passwords, specs, fed, URL(admin_url).user or "guest")
    # Over AMQP as well: quick, and the very declarations the services' queues rely on.
    await declare_topology(admin_url, specs)
