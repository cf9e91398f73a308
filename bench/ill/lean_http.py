"""A lean HTTP/1.1 client for the ILL bench's driver, in the shape of the part of
``httpx.AsyncClient`` the loan driver uses (``request`` → ``status_code``, ``json()``, ``text``).

The driver shares the machine's two cores with the federation it measures: through httpx each
of its 25-30 calls per loan cost about 4 ms of the driver's CPU, as much again as a whole
loan's broker. The floor's driver is hand-rolled for the same reason (``bench.hop.measure``),
so the lifecycles/s set against the floor are both driven as cheaply as a driver can be.

Keep-alive connections are pooled per host; an answer must carry ``content-length`` (every
illfed route's does). A connection that fails is closed and the failure raised as the
``httpx.TransportError`` the driver rides out, as it does httpx's own.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx


class LeanResponse:
    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class LeanClient:
    """Pooled keep-alive connections, one request at a time on each."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> LeanResponse:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        body = b"" if json is None else jsonlib.dumps(json).encode()
        head = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
        if json is not None:
            head.append("content-type: application/json")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"content-length: {len(body)}")
        head.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        try:
            return await asyncio.wait_for(
                self._exchange((host, port), raw), timeout or self.timeout
            )
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"{method} {url}: no answer in time") from exc

    async def _exchange(self, where: tuple[str, int], raw: bytes) -> LeanResponse:
        idle = self._idle.setdefault(where, [])
        conn = idle.pop() if idle else None
        if conn is None:
            try:
                conn = _Conn(*await asyncio.open_connection(*where))
            except OSError as exc:
                raise httpx.ConnectError(f"{where}: {exc}") from exc
        try:
            conn.writer.write(raw)
            head = await conn.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is None:
                raise httpx.RemoteProtocolError(f"no content-length in the answer: {head!r}")
            content = await conn.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            conn.close()
            raise httpx.ReadError(f"{where}: {exc!r}") from exc
        except BaseException:
            conn.close()  # cancelled or timed out mid-answer: the connection is out of step
            raise
        if close:
            conn.close()
        else:
            idle.append(conn)
        return LeanResponse(status, content)

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
