"""A holding as the catalogue last heard of it from the owning library."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from libs.common.errors import Problem
from services.catalog.adapters.tables import holdings

router = APIRouter(prefix="/api/v1/holdings", tags=["catalogue"])


@router.get("/{library}/{item_id}", summary="One library's item, as last reported by it")
async def get_holding(library: str, item_id: str, request: Request):
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(holdings).where(
                        holdings.c.library == library, holdings.c.item_id == item_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no holding {item_id} at {library}")
    return {k: v for k, v in row.items()}
