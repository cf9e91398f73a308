"""Operator routes: dead-lettered messages with their reasons, and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from libs.common.auth import Principal, require_operator
from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.limits import BIGINT_MAX
from services.requests.adapters import dead_letters as repo

router = APIRouter(prefix="/api/v1/dead-letters", tags=["operations"])
Operator = Annotated[Principal, Depends(require_operator)]


class DeadLetter(BaseModel):
    id: int
    queue: str
    message_id: str
    reason: str
    original_user: str | None
    body: str
    headers: dict[str, Any]
    times: int
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: int | None
    parked_by_queue: dict[str, int]


@router.get("", response_model=DeadLetterPage, summary="Dead-lettered messages")
async def list_dead_letters(
    request: Request,
    _: Operator,
    status: str | None = Query(default="parked", pattern="^(parked|replayed|discarded)$"),
    queue: str | None = Query(default=None, max_length=120),
    cursor: int | None = Query(default=None, ge=0, le=BIGINT_MAX),
    limit: int = Query(default=50, ge=1, le=200),
):
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        page = await repo.list_dead_letters(
            conn, status=status, queue=queue, after=cursor, limit=limit
        )
        counts = await repo.counts_by_queue(conn)
    return DeadLetterPage(items=page.items, next_cursor=page.next_cursor, parked_by_queue=counts)


@router.post(
    "/{dl_id}/replay",
    response_model=DeadLetter,
    summary="Send a parked message back to the queue it failed in",
)
async def replay(
    dl_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)], request: Request, operator: Operator
):
    rt = request.app.state.runtime
    async with unit_of_work(rt.engine) as conn:
        row = await repo.replay(conn, dl_id, operator.subject, rt.clock)
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no dead letter {dl_id}")
    if row["status"] != "replayed":
        raise Problem(
            409,
            "not-parked",
            "Not parked",
            f"dead letter {dl_id} is {row['status']}, only parked ones can be replayed",
        )
    return row
