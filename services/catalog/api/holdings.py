"""A holding as the catalogue last heard of it from the owning library."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from sqlalchemy import bindparam, select

from libs.common import hot_sql
from libs.common.db import reading
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
    async with reading(rt.engine) as conn:  # one read: no transaction around it
        row = (
            await hot_sql.run(
                conn,
                ("holding by library and item", holdings),
                lambda _: select(holdings).where(
                    holdings.c.library == bindparam("b_library"),
                    holdings.c.item_id == bindparam("b_item"),
                ),
                {"b_library": library, "b_item": item_id},
            )
        ).first()
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no holding {item_id} at {library}")
    return dict(row._mapping)
