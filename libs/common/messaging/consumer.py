"""Consuming messages: validate, check the sender, apply the effect exactly once, ack after
commit.

The inbox row and the handler's effect are written in one transaction, so a redelivered
message (the consumer died between commit and ack, or the relay published twice) changes
nothing. Bad input never crashes a consumer: malformed, unknown or forged messages go to the
queue's dead-letter queue with the reason, and the next message is processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.clock import Clock
from libs.common.contracts import Envelope
from libs.common.contracts.registry import UnknownContract, contract_of, parse_payload
from libs.common.db import unit_of_work, unit_state
from libs.common.logs import bind_correlation
from libs.common.messaging import inbox
from libs.common.messaging.delivery import Bus, Delivery, Subscription
from libs.common.messaging.retry import (
    DEFAULT_RETRY,
    RetryPolicy,
    failed_before,
    own_copy,
    retry_headers,
    vouched_user,
)
from libs.common.messaging.topology import DEFAULT_DELIVERY_LIMIT, principal_of
from libs.common.outcome import Outcome

REPLAYER = "requests"
REPLAY_HEADER = "x-illfed-original-user"
log = structlog.get_logger("illfed.consumer")

#: ``(conn, context, envelope, payload)``: the consumer's service context (a circulation
#: handler gets its library: policy, clock, hasher), the envelope and the validated payload.
#: It may return an :class:`~libs.common.outcome.Outcome`: a refused one is committed like
#: any other (its answer is the message the handler wrote, an ILL Unfilled) and logged.
Handler = Callable[[AsyncConnection, Any, Envelope, Any], Awaitable[Outcome[Any] | None]]
Handlers = Mapping[type[BaseModel], Handler]


class RejectMessage(Exception):
    """Raised by a handler for a message that can never be processed (it breaks a contract
    rule the schema cannot express); the message is dead-lettered with this reason."""


class Consumer:
    """One consumer of one queue, with a handler per contract.

    ``handlers`` is keyed by contract class (the class says its type and version, once);
    ``allowed_senders`` says who may send here at all (a library accepts ILL messages only from
    the broker; the catalogue item changes only from member libraries), required so no queue is
    left open to anybody by omission; ``context`` is what every handler is given first.
    """

    def __init__(
        self,
        name: str,
        queue: str,
        engine: AsyncEngine,
        inbox: Table,
        bus: Bus,
        clock: Clock,
        handlers: Handlers,
        *,
        allowed_senders: Callable[[str], bool],
        context: Any = None,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        prefetch: int = 16,
        after_commit: Callable[[], None] | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.name, self.queue, self.engine, self.inbox = name, queue, engine, inbox
        self.bus, self.clock, self.context = bus, clock, context
        self.handlers: dict[tuple[str, int], Handler] = {
            contract_of(model): handler for model, handler in handlers.items()
        }
        self.delivery_limit = delivery_limit
        self.prefetch = prefetch
        self.allowed_senders = allowed_senders
        self.after_commit = after_commit
        self.retry = retry
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.bus.consume(self.queue, self.handle, prefetch=self.prefetch)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.stop()
            self._sub = None

    @property
    def started(self) -> bool:
        return self._sub is not None

    @property
    def live(self) -> bool:
        """Started, and the broker is delivering this queue's messages to it."""
        return self._sub is not None and self._sub.live

    def _parse(self, delivery: Delivery) -> tuple[Envelope, BaseModel]:
        env = Envelope.model_validate_json(delivery.body)
        payload = parse_payload(env.type, env.version, env.payload)
        return env, payload

    async def handle(self, delivery: Delivery) -> None:
        try:
            env, payload = self._parse(delivery)
        except (ValidationError, UnknownContract, ValueError) as exc:
            await self._dead_letter(delivery, f"malformed message: {_short(exc)}")
            return
        bind_correlation(env.correlation_id)
        # RabbitMQ vouches for user_id; a sender field that disagrees is a forgery. A copy
        # this consumer put back for a retry carries the login validated the first time, and
        # a dead letter the broker service replays names the login that first published it.
        original_user = self.vouched_user(delivery)
        authenticated = principal_of(original_user)
        if authenticated != env.sender:
            await self._dead_letter(
                delivery,
                f"sender {env.sender!r} does not match the authenticated broker user "
                f"{delivery.user_id!r}",
            )
            return
        if not self.allowed_senders(env.sender):
            await self._dead_letter(delivery, f"{env.sender!r} may not send {env.type} here")
            return
        handler = self.handlers.get((env.type, env.version))
        if handler is None:
            await self._dead_letter(delivery, f"no handler for message type {env.type!r}")
            return
        try:
            async with unit_of_work(self.engine) as conn:
                await self._apply_once(conn, handler, env, payload)
        except _Processed:
            log.info("duplicate message ignored", message_id=env.message_id)
        except RejectMessage as exc:
            await self._dead_letter(delivery, f"rejected: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempts = failed_before(delivery, getattr(self.bus, "user_id", None)) + 1
            if attempts >= self.delivery_limit:
                await self._dead_letter(
                    delivery, f"failed {attempts} times, last error: {_short(exc)}"
                )
            else:
                # Not redelivered at once: a database blip would use up every attempt in
                # milliseconds. The copy comes back after a delay that grows each time.
                delay = self.retry.delay(attempts)
                log.warning(
                    "message failed; will be retried",
                    error=_short(exc),
                    attempt=attempts,
                    retry_in=delay,
                    message_id=env.message_id,
                )
                await self.bus.retry(
                    delivery, delay, retry_headers(delivery, attempts, original_user)
                )
            return
        await delivery.ack()
        if self.after_commit is not None:
            self.after_commit()

    async def _apply_once(
        self, conn: AsyncConnection, handler: Handler, env: Envelope, payload: Any
    ) -> None:
        """The handler's effect and the message's inbox claim, in ``conn``'s transaction; a
        message processed before raises :class:`_Processed` (nothing of it is committed)."""
        now = self.clock.now()
        along = inbox.takes_claim_along(handler, conn)
        if along:
            state = unit_state(conn)
            assert state is not None  # a unit of work's connection
            state[inbox.PENDING] = pending = inbox.InboxClaim(
                self.inbox, self.name, env.message_id, now
            )
        elif not await inbox.claim(conn, self.inbox, self.name, env.message_id, now):
            raise _Processed
        outcome = await handler(conn, self.context, env, payload)
        if along and not pending.made:
            # The handler ended before its first statement: the claim now, and if the
            # message was processed before, whatever the handler did is rolled back.
            if not await inbox.claim(conn, self.inbox, self.name, env.message_id, now):
                raise _Processed
        elif along and not pending.new:
            raise _Processed
        if isinstance(outcome, Outcome) and outcome.refused:
            log.info(
                "message refused",
                message_id=env.message_id,
                type=env.type,
                rules=[] if outcome.decision is None else outcome.decision.rules,
            )

    def vouched_user(self, delivery: Delivery) -> str:
        """The broker login that published ``delivery``: the ``user_id`` RabbitMQ validated;
        for a retry copy this consumer put back, the login validated when it first arrived;
        for a dead letter the broker service replays on an operator's say-so, the original
        publisher's login it recorded when parking it."""
        own_user = getattr(self.bus, "user_id", None)
        if own_copy(delivery, own_user):
            return vouched_user(delivery, own_user) or ""
        if principal_of(delivery.user_id) == REPLAYER and REPLAY_HEADER in delivery.headers:
            return str(delivery.headers[REPLAY_HEADER])
        return delivery.user_id or ""

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        log.warning(
            "message dead-lettered", queue=self.queue, reason=reason, message_id=delivery.message_id
        )
        # The dead letter is republished under this consumer's login: it names the original
        # publisher, so a replay is checked against the library that sent it, not against us.
        delivery.headers[REPLAY_HEADER] = self.vouched_user(delivery)
        await self.bus.dead_letter(delivery, reason)


class _Processed(Exception):
    """The message was processed before (its inbox row is there): nothing more to do."""


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 1500 else text[:1500] + "…"
