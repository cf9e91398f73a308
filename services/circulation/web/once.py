"""A form sent twice (a double click, a reload of the answer) does its work once: each form
that changes an account carries a key of its own, and the answer is kept under it in the
library's ``Idempotency-Key`` table, as the API keeps a retried POST's answer."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData

from libs.common import idempotency
from services.circulation.adapters.tables import idempotency as table
from services.circulation.handlers.context import Library

FIELD = "form_key"


def new_key() -> str:
    return str(uuid.uuid4())


class FormOnce:
    """The form's key (none: every send is new) and what it asked for."""

    def __init__(self, principal: str, form: FormData, action: str, payload: Any) -> None:
        key = form.get(FIELD)
        self.principal = principal
        self.key = key[:200] if isinstance(key, str) and key else None
        self.hash = idempotency.request_hash("POST", action, payload)

    async def prior(self, conn: AsyncConnection) -> Any | None:
        """The first answer, when this form was sent before."""
        found = await idempotency.lookup(conn, table, self.principal, self.key, self.hash)
        return None if found is None else found[1]

    async def keep(self, conn: AsyncConnection, lib: Library, answer: Any) -> None:
        """Keep ``answer`` with the work, in the same transaction."""
        await idempotency.remember(
            conn, table, self.principal, self.key, self.hash, 200, answer, lib.clock
        )
