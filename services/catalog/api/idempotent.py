"""``Idempotency-Key`` for the catalogue's POSTs: the boundary of ``libs.common.idempotency``,
with the keys in the catalogue's own table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.common.idempotency import IdempotentPost, idempotent_post
from services.catalog.adapters.tables import idempotency as idem_table

PostOnce = Annotated[IdempotentPost, Depends(idempotent_post(idem_table))]
