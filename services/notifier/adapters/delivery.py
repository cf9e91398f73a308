"""The delivery worker: claim due notices, render, send over SMTP, record what happened.

Why a notice is sent once and never lost:

- the claim is committed before anything is sent, so two workers never hold one notice;
- the outcome is committed right after the SMTP server answers, one notice at a time;
- a worker that dies in between leaves its lease to run out, and the notice is claimed
  again: at worst it is sent a second time with the same Message-ID (recognisable as a
  repeat), never silently dropped;
- after the retry limit, or on a permanent refusal, the notice is marked failed and stays
  listed for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from jinja2 import TemplateError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.clock import Clock
from services.notifier.adapters import repository
from services.notifier.adapters.libraries import load_library_contacts
from services.notifier.adapters.rendering import NoticeRenderer
from services.notifier.adapters.repository import DEFAULT_LEASE, ClaimedNotice
from services.notifier.adapters.smtp import (
    SmtpDeliveryError,
    SmtpSettings,
    build_message,
    send_email,
)
from services.notifier.domain.kinds import missing_fields
from services.notifier.domain.library import LibraryContact
from services.notifier.domain.retry import RetryPolicy

log = logging.getLogger(__name__)

Transactions = AsyncEngine | Callable[[], AbstractAsyncContextManager[AsyncConnection]]
SendEmail = Callable[[EmailMessage, SmtpSettings], Awaitable[None]]


class Unsendable(Exception):
    """The notice itself cannot become an e-mail; trying again would not change that."""


def _begin(transactions: Transactions) -> AbstractAsyncContextManager[AsyncConnection]:
    if isinstance(transactions, AsyncEngine):
        return transactions.begin()
    return transactions()


def _single_statements(transactions: Transactions) -> Transactions:
    """Where each of the worker's statements (a claim, an outcome) may be its own
    transaction: on PostgreSQL in autocommit, which saves the BEGIN and COMMIT round trips
    around each; a single statement is atomic there all the same."""
    if isinstance(transactions, AsyncEngine) and transactions.dialect.name == "postgresql":
        return transactions.execution_options(isolation_level="AUTOCOMMIT")
    return transactions


@dataclass
class DeliveryWorker:
    """Everything one delivery pass needs. Build it once; call :meth:`deliver_due` often."""

    transactions: Transactions
    smtp_settings: SmtpSettings
    clock: Clock
    renderer: NoticeRenderer = field(default_factory=NoticeRenderer)
    libraries: Mapping[str, LibraryContact] = field(default_factory=load_library_contacts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 20
    # Must outlast a whole batch of SMTP conversations, or a slow batch would be claimed
    # again by another worker while it is still being sent.
    lease: timedelta = DEFAULT_LEASE
    send: SendEmail = send_email

    def __post_init__(self) -> None:
        self.transactions = _single_statements(self.transactions)
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        slowest_batch = timedelta(seconds=self.batch_size * self.smtp_settings.timeout * 2)
        self.lease = max(self.lease, slowest_batch)

    async def deliver_due(self) -> int:
        """One pass: try every notice due now (up to ``batch_size``); how many were tried."""
        async with _begin(self.transactions) as conn:
            claimed = await repository.claim_due(
                conn, self.clock.now(), limit=self.batch_size, lease=self.lease
            )
        for notice in claimed:
            try:
                await self._deliver(notice)
            except Exception:
                # Most likely the database went away while recording the outcome: the
                # lease brings the notice back, so go on with the others.
                log.exception("notice %s: outcome not recorded", notice.notice_id)
        return len(claimed)

    async def _deliver(self, notice: ClaimedNotice) -> None:
        if notice.attempt > self.retry.max_attempts:
            # Only reachable when earlier attempts never reported back (worker crashes).
            await self._failed(notice, f"gave up after {notice.attempt - 1} interrupted attempts")
            return
        try:
            message = self._compose(notice)
        except Unsendable as error:
            await self._failed(notice, f"unsendable: {error}")
            return
        except TemplateError as error:
            # A template a library is editing: worth retrying while someone fixes it.
            await self._retry_or_fail(notice, f"template error: {error}", permanent=False)
            return
        except Exception as error:
            log.exception("notice %s: unexpected error while composing", notice.notice_id)
            await self._retry_or_fail(notice, f"{type(error).__name__}: {error}", permanent=False)
            return
        try:
            await self.send(message, self.smtp_settings)
        except SmtpDeliveryError as error:
            await self._retry_or_fail(notice, str(error), permanent=error.permanent)
            return
        except Exception as error:
            log.exception("notice %s: unexpected error while sending", notice.notice_id)
            await self._retry_or_fail(notice, f"{type(error).__name__}: {error}", permanent=False)
            return
        async with _begin(self.transactions) as conn:
            await repository.mark_sent(conn, notice.notice_id, self.clock.now())
        log.info("notice %s (%s, %s) sent", notice.notice_id, notice.kind, notice.library)

    def _compose(self, notice: ClaimedNotice) -> EmailMessage:
        library = self.libraries.get(notice.library)
        if library is None:
            raise Unsendable(f"no library with code {notice.library!r} in the federation")
        if not notice.email:
            raise Unsendable("no address to send to")
        try:
            event = notice.to_event()
        except ValueError as error:  # pydantic's ValidationError included
            raise Unsendable(f"stored notice is not a valid event: {error}") from error
        missing = missing_fields(event.kind, event.model_dump())
        if missing:
            raise Unsendable(f"a {event.kind} notice needs {', '.join(missing)}")
        rendered = self.renderer.render(event, library)
        return build_message(
            rendered,
            library=library,
            to=notice.email,
            notice_id=notice.notice_id,
            sent_at=self.clock.now(),
        )

    async def _retry_or_fail(self, notice: ClaimedNotice, error: str, *, permanent: bool) -> None:
        now = self.clock.now()
        at = self.retry.next_attempt_at(notice.attempt, now, permanent=permanent)
        if at is None:
            reason = (
                "refused permanently" if permanent else f"gave up after {notice.attempt} attempts"
            )
            await self._failed(notice, f"{reason}: {error}")
            return
        async with _begin(self.transactions) as conn:
            await repository.schedule_retry(
                conn,
                notice.notice_id,
                attempt=notice.attempt,
                at=at,
                error=self._safe(notice, error),
                now=now,
            )
        log.warning(
            "notice %s: attempt %d failed, next at %s", notice.notice_id, notice.attempt, at
        )

    async def _failed(self, notice: ClaimedNotice, error: str) -> None:
        async with _begin(self.transactions) as conn:
            await repository.mark_failed(
                conn,
                notice.notice_id,
                attempt=notice.attempt,
                error=self._safe(notice, error),
                now=self.clock.now(),
            )
        log.error("notice %s (%s, %s) failed", notice.notice_id, notice.kind, notice.library)

    @staticmethod
    def _safe(notice: ClaimedNotice, error: str) -> str:
        return repository.safe_error(error, email=notice.email, patron_name=notice.patron_name)


async def deliver_due(
    transactions: Transactions,
    smtp_settings: SmtpSettings,
    clock: Clock,
    **options: Any,
) -> int:
    """One delivery pass with a worker built from ``options`` (see :class:`DeliveryWorker`)."""
    return await DeliveryWorker(transactions, smtp_settings, clock, **options).deliver_due()


class DeliveryLoop:
    """Runs delivery passes in the background until stopped.

    It polls every ``poll_interval`` seconds (retries come due without any event), goes
    straight on while batches come back full, and :meth:`wake` starts a pass at once —
    the consumer calls it after committing a new notice.
    """

    def __init__(
        self,
        worker: DeliveryWorker,
        *,
        poll_interval: float = 5.0,
        error_pause: float = 5.0,
    ) -> None:
        self.worker = worker
        self.poll_interval = poll_interval
        self.error_pause = error_pause
        self.passes = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[None]:
        if self.running:
            raise RuntimeError("the delivery loop is already running")
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notifier-delivery")
        return self._task

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, timeout: float = 30.0) -> None:
        """Let the pass under way finish (so no mail goes out unrecorded), then end.

        Only after ``timeout`` is the pass cancelled; its notices come back when their
        lease runs out.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            pause = self.poll_interval
            try:
                handled = await self.worker.deliver_due()
                self.passes += 1
                if handled >= self.worker.batch_size:
                    # More may be waiting: go again, letting other tasks run first.
                    await asyncio.sleep(0)
                    continue
            except Exception:
                log.exception("delivery pass failed")
                pause = self.error_pause
            await self._sleep(pause)

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for that ends as the task is
        # cancelled can swallow the cancellation, and the loop would not stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()
