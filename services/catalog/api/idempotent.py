"""``Idempotency-Key`` for the catalogue's POSTs: a retry with the same key and the same
request gets the first answer, stored in the same transaction as the work it reports; the same
key with a different request is refused (``libs.common.idempotency``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common import idempotency
from libs.common.clock import Clock
from services.catalog.adapters.plumbing import idempotency as idem_table

Work = Callable[[AsyncConnection], Awaitable[Any]]


@dataclass(frozen=True)
class Once:
    """One POST by ``principal``, under its ``key`` (none: every request is new)."""

    engine: AsyncEngine
    clock: Clock
    principal: str
    key: str | None
    request_hash: str

    async def prior(self) -> JSONResponse | None:
        """The first answer when this is a retry: checked before the work is prepared."""
        if not self.key:
            return None
        async with self.engine.connect() as conn:
            return _answer(await self._lookup(conn))

    async def run(self, work: Work, status: int = 200) -> JSONResponse:
        """``work`` in one transaction with its answer stored under the key, or the answer
        already stored by a request with the same key that finished first."""
        try:
            async with self.engine.begin() as conn:
                stored = await self._lookup(conn)
                if stored is None:
                    body = await work(conn)
                    await idempotency.remember(
                        conn,
                        idem_table,
                        self.principal,
                        self.key,
                        self.request_hash,
                        status,
                        body,
                        self.clock,
                    )
        except IntegrityError:
            # The same key sent again while the first request was still working: that one
            # committed first, and this one's work was rolled back.
            if not self.key:
                raise
            async with self.engine.connect() as conn:
                stored = await self._lookup(conn)
            if stored is None:
                raise
        if stored is not None:
            status, body = stored
        return JSONResponse(body, status_code=status)

    async def _lookup(self, conn: AsyncConnection) -> tuple[int, Any] | None:
        return await idempotency.lookup(
            conn, idem_table, self.principal, self.key, self.request_hash
        )


def _answer(stored: tuple[int, Any] | None) -> JSONResponse | None:
    if stored is None:
        return None
    status, body = stored
    return JSONResponse(body, status_code=status)
