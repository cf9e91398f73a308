"""Notice requests from the libraries: recorded once per notice id, then delivered."""

from __future__ import annotations

from libs.common.clock import Clock
from libs.common.contracts import Envelope, NoticeRequested
from libs.common.messaging.consumer import RejectMessage
from services.notifier.adapters import repository


async def on_notice_requested(conn, clock: Clock, env: Envelope, payload: NoticeRequested) -> None:
    # Privacy: a patron's address may come only from the patron's home library.
    if payload.library != env.sender:
        raise RejectMessage(
            f"{env.sender} asked for a notice to a patron of {payload.library}; only the "
            "patron's home library may"
        )
    await repository.record_notice(conn, payload, clock.now())
