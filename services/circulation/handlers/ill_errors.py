"""The broker's ``ill.error``: it refused a message this library sent about a transaction, on
whichever side of it this library is. Recorded in that transaction's history (never applied:
an error changes no state); the staff see it there."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope, IllError
from services.circulation.adapters import ill_lending_repo
from services.circulation.handlers import ill_borrowing
from services.circulation.handlers.context import Library
from services.circulation.handlers.ill_messages import record

log = structlog.get_logger("illfed.circulation.ill")


async def on_error_message(
    conn: AsyncConnection, lib: Library, env: Envelope, error: IllError
) -> None:
    if await ill_borrowing.on_ill_error(conn, lib, env, error):
        return  # one of this library's patrons' requests: recorded there
    lending = await ill_lending_repo.get(conn, error.transaction_id)
    if lending is None:
        log.info("ill.error about a transaction unknown here", txn=error.transaction_id)
        return
    await record(
        conn,
        lib,
        transaction_id=error.transaction_id,
        role="supplier",
        from_state=lending["state"],
        to_state=None,
        event="ill.error",
        actor=env.sender,
        message_id=env.message_id,
        refused=f"{error.error_type}: {error.reason} (message {error.refused_message_id})",
    )
