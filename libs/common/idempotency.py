"""``Idempotency-Key`` for POSTs that create things: the first answer is stored with the key
and given again for a retry, so a client that lost the response can safely send again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.clock import Clock
from libs.common.db import UtcDateTime
from libs.common.errors import Problem


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(80), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("body", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )


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
        await conn.execute(select(table).where(table.c.principal == principal, table.c.key == key))
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
    if key:
        await conn.execute(
            insert(table).values(
                principal=principal,
                key=key,
                request_hash=req_hash,
                status=status,
                body=json.loads(json.dumps(body, default=str)),
                created_at=clock.now(),
            )
        )
