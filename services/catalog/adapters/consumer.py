"""Item changes from the owning libraries keep the union catalogue's holdings current."""

from __future__ import annotations

from libs.common.contracts import Envelope, ItemChanged
from libs.common.messaging.consumer import RejectMessage
from services.catalog.adapters import repository
from services.catalog.adapters.libraries import Members


async def on_item_changed(conn, members: Members, env: Envelope, payload: ItemChanged) -> None:
    """``members``, the consumer's context: the libraries of the federation the catalogue runs
    with (code -> consortium)."""
    # Authority: only the owner reports on its items.
    if payload.library != env.sender:
        raise RejectMessage(f"{env.sender} reported on an item of {payload.library}")
    await repository.apply_item_change(conn, payload, members=members)
