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


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 between clients and the broker that can cut every connection
    through it and refuse new ones until restored: a network outage for these clients only."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self.cut_off = False

    @classmethod
    def to(cls, amqp_url: str) -> CuttableProxy:
        u = URL(amqp_url)
        return cls(u.host or "127.0.0.1", u.port or 5672)

    def url(self, amqp_url: str) -> str:
        """``amqp_url`` going through the proxy instead."""
        return str(URL(amqp_url).with_host("127.0.0.1").with_port(self.port))

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            dst.close()
            self._writers.discard(dst)

    def cut(self) -> None:
        self.cut_off = True
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def stop(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
