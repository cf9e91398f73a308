"""Setting up RabbitMQ for a federation: a virtual host, one broker user per principal with
permissions that let it read only its own queues, and the topology.

Users and permissions go through ``rabbitmqctl`` (the local broker's own admin tool, no
management plugin needed); exchanges and queues through AMQP.
"""

from __future__ import annotations

import asyncio
import re
import shutil

from yarl import URL

from libs.common.messaging.rabbit import declare_topology
from libs.common.messaging.topology import QueueSpec, broker_user

PUBLISH = r"^illfed\.(events|direct|dlx)$"
# The broker also replays dead letters straight into their queues (the default exchange).
PUBLISH_AND_REPLAY = r"^(illfed\.(events|direct|dlx)|amq\.default)$"


async def _ctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl") or "rabbitmqctl"
    proc = await asyncio.create_subprocess_exec(
        exe, "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args[:2])} failed: {err.decode().strip()}")
    return out.decode()


def _read_pattern(principal: str, specs: list[QueueSpec]) -> str:
    names = [re.escape(s.name) for s in specs if s.owner == principal]
    if principal == "requests":
        # The broker serves the operator dashboard: it reads every dead-letter queue.
        names.append(r".*\.dlq")
    if not names:
        return "^$"
    return "^(" + "|".join(names) + r")(\.dlq)?$"


async def ensure_vhost(vhost: str, admin_user: str = "guest") -> None:
    existing = (await _ctl("list_vhosts", "name")).split()
    if vhost not in existing:
        await _ctl("add_vhost", vhost)
    await _ctl("set_permissions", "-p", vhost, admin_user, ".*", ".*", ".*")


async def delete_vhost(vhost: str) -> None:
    existing = (await _ctl("list_vhosts", "name")).split()
    if vhost in existing:
        await _ctl("delete_vhost", vhost)


async def ensure_principals(vhost: str, passwords: dict[str, str], specs: list[QueueSpec]) -> None:
    """Create (or update the password of) each principal's broker user and set what it may
    read and write in ``vhost``."""
    existing = {line.split("\t")[0] for line in (await _ctl("list_users")).splitlines()[1:]}
    for principal, password in passwords.items():
        user = broker_user(principal)
        if user not in existing:
            try:
                await _ctl("add_user", user, password)
            except RuntimeError as exc:
                # Another setup of the same server created it meanwhile: set its password.
                if "already exists" not in str(exc):
                    raise
                existing.add(user)
        if user in existing:
            await _ctl("change_password", user, password)
        write = PUBLISH if principal != "requests" else PUBLISH_AND_REPLAY
        await _ctl(
            "set_permissions", "-p", vhost, user, "^$", write, _read_pattern(principal, specs)
        )


async def setup_broker(admin_url: str, passwords: dict[str, str], specs: list[QueueSpec]) -> None:
    """Everything a federation needs on the broker, idempotent: vhost, users, topology."""
    vhost = URL(admin_url).path.lstrip("/") or "/"
    await ensure_vhost(vhost, URL(admin_url).user or "guest")
    await ensure_principals(vhost, passwords, specs)
    await declare_topology(admin_url, specs)
