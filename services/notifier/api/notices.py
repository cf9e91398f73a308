"""Operator routes: every notice with its delivery status (never the patron's address)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from libs.common.auth import Principal, require_operator
from libs.common.limits import BIGINT_MAX
from services.notifier.adapters import repository
from services.notifier.domain.status import NoticeStatus

router = APIRouter(prefix="/api/v1/notices", tags=["notices"])
Operator = Annotated[Principal, Depends(require_operator)]


def _out(view) -> dict:
    data = asdict(view)
    data["payload"] = {
        k: v for k, v in data["payload"].items() if k not in ("email", "patron_name")
    }
    return data


@router.get("", summary="Notices, newest first, filtered by status, library and kind")
async def list_notices(
    request: Request,
    _: Operator,
    status: NoticeStatus | None = Query(default=None),
    library: str | None = Query(default=None, max_length=40),
    kind: str | None = Query(default=None, max_length=40),
    cursor: int | None = Query(default=None, ge=0, le=BIGINT_MAX),
    limit: int = Query(default=50, ge=1, le=200),
):
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        page = await repository.list_notices(
            conn, status=status, library=library, kind=kind, limit=limit, cursor=cursor
        )
        counts = await repository.count_by_status(conn, library=library)
    return {
        "items": [_out(v) for v in page.items],
        "next_cursor": page.next_cursor,
        "counts": counts,
    }


@router.get("/failed", summary="Notices that could not be delivered, for operators to act on")
async def failed(
    request: Request,
    _: Operator,
    library: str | None = Query(default=None, max_length=40),
    cursor: int | None = Query(default=None, ge=0, le=BIGINT_MAX),
    limit: int = Query(default=50, ge=1, le=200),
):
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        page = await repository.list_failed(conn, library=library, cursor=cursor, limit=limit)
    return {"items": [_out(v) for v in page.items], "next_cursor": page.next_cursor}
