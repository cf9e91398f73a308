"""What the hop benchmarks measure with: CPU time and peak memory of processes (from /proc),
the "committed" probe a consumer sends, a lean HTTP/1.1 client and percentiles.

The client is hand-rolled on purpose: the driver shares the machine's two cores with the
processes it measures, so it must cost as little CPU per request as it can, and the same for
the floor and for illfed.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

#: ``host:port`` of the driver's probe socket, given to a consumer process in its environment
PROBE_ENV = "ILLFED_BENCH_PROBE"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# ---------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: count fields after it.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE_KB / 1024
    except OSError:
        return None


def rabbitmq_pid() -> int | None:
    """The broker's Erlang VM on this machine (the one started with ``-s rabbit boot``)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"beam.smp") and b"rabbit" in args and b"boot" in args:
            return int(entry)
    return None


class CpuMeter:
    """CPU seconds used by named groups of processes between :meth:`start` and :meth:`stop`.

    A group is a list of pids, given again at every :meth:`sample` and at the end: a process
    that appeared during the run (a PostgreSQL backend of a new pool connection) counts from
    zero, and one that ended during it counts up to its last sample."""

    def __init__(self) -> None:
        self._before: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}

    @staticmethod
    def _read(pids: Iterable[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            cpu = cpu_seconds(pid)
            if cpu is not None:
                out[pid] = cpu
        return out

    def start(self, groups: dict[str, list[int]]) -> None:
        self._before = {name: self._read(pids) for name, pids in groups.items()}
        self._last = {name: dict(seen) for name, seen in self._before.items()}

    def sample(self, groups: dict[str, list[int]]) -> None:
        for name, pids in groups.items():
            last = self._last.setdefault(name, {})
            last.update(self._read(set(pids) | last.keys()))

    def stop(self, groups: dict[str, list[int]]) -> dict[str, float]:
        self.sample(groups)
        return {
            name: sum(cpu - self._before.get(name, {}).get(pid, 0.0) for pid, cpu in last.items())
            for name, last in self._last.items()
        }


# ---------------------------------------------------------------- the probe


def probe_sender():
    """In a consumer process: a function telling the driver that the message of ``key`` is
    committed (and acked), with the moment it was; a no-op when no driver listens."""
    where = os.environ.get(PROBE_ENV)
    if not where:
        return lambda key: None
    host, port = where.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    address = (host, int(port))

    def send(key: str) -> None:
        # CLOCK_MONOTONIC is one clock for every process of the machine.
        try:
            sock.sendto(f"{key} {time.monotonic_ns()}".encode(), address)
        except OSError:
            pass

    return send


def correlation_of(body: bytes) -> str:
    """The envelope's correlation id, found without parsing the whole body."""
    start = body.index(b'"correlation_id":"') + 18
    return body[start : body.index(b'"', start)].decode()


class Probe(asyncio.DatagramProtocol):
    """The driver's end: futures waiting for "committed" by key."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[int]] = {}
        self.unexpected = 0

    def datagram_received(self, data: bytes, addr) -> None:
        key, _, ns = data.decode().rpartition(" ")
        fut = self.waiting.pop(key, None)
        if fut is None or fut.done():
            self.unexpected += 1
            return
        fut.set_result(int(ns))

    def expect(self, key: str) -> asyncio.Future[int]:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[key] = fut
        return fut


async def open_probe() -> tuple[Probe, asyncio.DatagramTransport, str]:
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    host, port = transport.get_extra_info("sockname")[:2]
    return probe, transport, f"{host}:{port}"


# ---------------------------------------------------------------- a lean HTTP client


class HttpError(Exception):
    pass


@dataclass
class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    host: str
    headers: bytes

    @classmethod
    async def open(cls, url: str, headers: dict[str, str] | None = None) -> Connection:
        hostport = url.split("//", 1)[1].rstrip("/")
        host, port = hostport.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return cls(reader, writer, hostport, extra.encode())

    async def post(self, path: str, doc: object) -> tuple[int, bytes]:
        body = json.dumps(doc).encode()
        self.writer.write(
            b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n%s\r\n"
            % (path.encode(), self.host.encode(), len(body), self.headers)
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise HttpError(f"no content-length in the answer: {head!r}")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
