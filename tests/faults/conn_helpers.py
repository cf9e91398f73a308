"""Dropping a test's own RabbitMQ connections from the server side, and waiting for what a
client should do about it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from yarl import URL

from libs.common.messaging.broker_admin import _ctl


def vhost_of(admin_url: str) -> str:
    return URL(admin_url).path.lstrip("/") or "/"


async def drop_connections(admin_url: str) -> None:
    """The broker closes every connection of the test's own virtual host (never the whole
    server's), as it does when a node restarts or an operator forces clients off."""
    await _ctl("close_all_connections", "-p", vhost_of(admin_url), "fault test")


async def connection_count(admin_url: str) -> int:
    out = await _ctl("list_connections", "-p", vhost_of(admin_url), "name")
    return len([line for line in out.splitlines() if line.strip()])


async def consumer_count(admin_url: str, queue: str) -> int:
    out = await _ctl("list_queues", "-p", vhost_of(admin_url), "name", "consumers")
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    return 0


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.1
) -> float | None:
    """Seconds until ``check()`` held, or None if it did not within ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        if await check():
            return loop.time() - start
        if loop.time() - start > timeout:
            return None
        await asyncio.sleep(every)
