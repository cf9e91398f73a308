"""A holding as the catalogue last heard of it from the owning library."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from sqlalchemy import select

from libs.common.errors import Problem
from services.catalog.adapters.tables import holdings
from services.catalog.domain.intake import HOLDING_LIMITS

# NUL and lone surrogates: no stored holding has them, and PostgreSQL refuses them as text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str, column: str) -> bool:
    return len(value) <= HOLDING_LIMITS[column] and not _UNSTORABLE.search(value)


router = APIRouter(prefix="/api/v1/holdings", tags=["catalogue"])


@router.get("/{library}/{item_id}", summary="One library's item, as last reported by it")
async def get_holding(library: str, item_id: str, request: Request):
    rt = request.app.state.runtime
    if not _storable(library, "library") or not _storable(item_id, "item_id"):
        # No such holding can have been stored (PostgreSQL would refuse a NUL even to look).
        raise Problem(404, "not-found", "Not found", "no such holding")
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
