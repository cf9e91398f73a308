"""``Idempotency-Key`` for POSTs that create things: the first answer is stored with the key
and given again for a retry, so a client that lost the response can safely send again.

A route takes the boundary as a FastAPI dependency (:func:`idempotent_post`): a retry with the
same key and the same request gets the first answer, stored in the same transaction as the
work it reports; the same key with a different request is refused; of two requests racing
with the same key, the one that commits (or fails) second is answered with the first one's
answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common import appends, hot_sql
from libs.common.auth import CurrentPrincipal
from libs.common.clock import Clock
from libs.common.db import reading, unit_of_work
from libs.common.errors import Problem
from libs.common.outcome import Outcome, answer

Work = Callable[[AsyncConnection], Awaitable[Any]]


def request_hash(method: str, path: str, payload: Any) -> str:
    raw = json.dumps([method, path, payload], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


async def lookup(
    conn: AsyncConnection, table: Table, principal: str, key: str | None, req_hash: str
) -> tuple[int, Any] | None:
    """The stored (status, body) for a retried request, None for a new one. The same key
    with a different request is refused rather than silently answered with the old result."""
    if not key:
        return None
    if len(key) > 200:
        raise Problem(
            400,
            "bad-idempotency-key",
            "Idempotency-Key too long",
            "an Idempotency-Key may be at most 200 characters",
        )
    row = (
        await hot_sql.run(
            conn,
            ("idempotency lookup", table),
            lambda _: select(table).where(
                table.c.principal == bindparam("b_principal"), table.c.key == bindparam("b_key")
            ),
            {"b_principal": principal, "b_key": key},
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != req_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was already used for a different request",
        )
    return row.status, row.body


async def remember(
    conn: AsyncConnection,
    table: Table,
    principal: str,
    key: str | None,
    req_hash: str,
    status: int,
    body: Any,
    clock: Clock,
) -> None:
    """Keep the answer under the key, in the caller's transaction: with what else the unit of
    work writes last (:mod:`libs.common.appends`; nothing reads it back before the commit),
    so a twin request that committed first makes this one fail then, as it would here."""
    if key:
        row = {
            "principal": principal,
            "key": key,
            "request_hash": req_hash,
            "status": status,
            "body": json.loads(json.dumps(body, default=str)),
            "created_at": clock.now(),
        }
        await appends.append(conn, table, row)


@dataclass(frozen=True)
class Once:
    """One POST by ``principal``, under its ``key`` (none: every request is new), bound to
    ``request_hash`` (what the request asked for)."""

    engine: AsyncEngine
    clock: Clock
    table: Table
    principal: str
    key: str | None
    request_hash: str

    async def prior(self) -> JSONResponse | None:
        """The first answer when this is a retry: checked before the work is prepared."""
        if not self.key:
            return None
        async with reading(self.engine) as conn:  # one read: no transaction around it
            return _answer(await self._lookup(conn))

    async def run(self, work: Work, status: int = 200) -> JSONResponse:
        """``work`` in one unit of work with its answer stored under the key, or the answer
        already stored by a request with the same key that finished first.

        ``work`` may return an :class:`~libs.common.outcome.Outcome`: a refused one is
        committed with what the work wrote (a refusal whose notice must go out) and then
        answered with its refusal; that answer is not stored, so a retry is decided again."""
        refused: Outcome[Any] | None = None
        try:
            async with unit_of_work(self.engine) as conn:
                stored = await self._lookup(conn)
                if stored is None:
                    result = await work(conn)
                    if isinstance(result, Outcome) and result.refused:
                        refused = result
                    else:
                        body = jsonable_encoder(answer(result))
                        await remember(
                            conn,
                            self.table,
                            self.principal,
                            self.key,
                            self.request_hash,
                            status,
                            body,
                            self.clock,
                        )
        except Exception:
            # The same key sent again while the first request was still working: that one
            # committed first, and this one's work was rolled back: by the key's unique row
            # (IntegrityError), or by what the first one's commit changed (a rule refusing
            # what now looks like a second request, such as a duplicate ILL request).
            if not self.key:
                raise
            stored = await self._stored_after_failure()
            if stored is None:
                raise
        if refused is not None:
            refused.answer()
        if stored is not None:
            status, body = stored
        return JSONResponse(body, status_code=status)

    async def _stored_after_failure(self) -> tuple[int, Any] | None:
        """The answer a twin request with this key committed, if any; None when there is
        none, or the database cannot say (the original failure is then what is answered)."""
        try:
            async with reading(self.engine) as conn:
                return await self._lookup(conn)
        except Problem:
            raise
        except Exception:
            return None

    async def _lookup(self, conn: AsyncConnection) -> tuple[int, Any] | None:
        return await lookup(conn, self.table, self.principal, self.key, self.request_hash)


def _answer(stored: tuple[int, Any] | None) -> JSONResponse | None:
    if stored is None:
        return None
    status, body = stored
    return JSONResponse(body, status_code=status)


@dataclass(frozen=True)
class IdempotentPost:
    """A POST that takes ``Idempotency-Key``: :meth:`once` binds it to what was asked."""

    engine: AsyncEngine
    clock: Clock
    table: Table
    principal: str
    key: str | None
    path: str

    def once(self, payload: Any = None, *, hashed: str | None = None) -> Once:
        """Bound to the JSON ``payload`` with this method and path, or to a hash the route
        made of what was asked (an upload's bytes)."""
        if hashed is None:
            hashed = request_hash("POST", self.path, jsonable_encoder(payload))
        return Once(self.engine, self.clock, self.table, self.principal, self.key, hashed)

    async def run(self, payload: Any, work: Work, status: int = 201) -> JSONResponse:
        """:meth:`Once.run` for a JSON ``payload``."""
        return await self.once(payload).run(work, status)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(description="a retry with the same key and body gets the first answer"),
]


def idempotent_post(table: Table) -> Callable[..., Awaitable[IdempotentPost]]:
    """The dependency for a service's POSTs, keeping their keys in ``table``; the runtime
    (engine, clock) is the app's."""

    async def dependency(
        request: Request,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> IdempotentPost:
        rt = request.app.state.runtime
        return IdempotentPost(
            rt.engine, rt.clock, table, principal.subject, idempotency_key, request.url.path
        )

    return dependency
