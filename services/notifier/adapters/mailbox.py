"""A real SMTP server (aiosmtpd) on this machine that keeps what it receives readable.

``make run`` and the tests hand the federation's mail to it instead of the Internet, so a
newcomer can read every notice sent, and a test can read the very bytes an SMTP client
delivered. It can also be told to refuse mail, to prove retries and failures.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import logging
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from libs.common.clock import Clock, SystemClock
from services.notifier.adapters.mail_policy import POLICY
from services.notifier.adapters.smtp import SmtpSettings

log = logging.getLogger(__name__)

TEMPORARY_REFUSAL = (451, "4.3.0 Mailbox busy, try again later")


class _Part:
    """A header or a body of a :class:`ReceivedMessage`, read from its parsed parts."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, message: Any, owner: type | None = None) -> Any:
        return self if message is None else message._parts[self.name]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server received it, with the parts a reader wants parsed.

    The parts are parsed when first read, not on receipt: the server answers the SMTP client
    sooner, and most messages a busy federation sends are never opened here."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @classmethod
    def parse(
        cls,
        id: int,
        raw: bytes,
        *,
        received_at: datetime,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
    ) -> ReceivedMessage:
        return cls(id=id, received_at=received_at, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw)

    @cached_property
    def _parts(self) -> dict[str, Any]:
        # With the default policy (ours is it) the parser builds EmailMessage objects.
        message = cast(EmailMessage, email.message_from_bytes(self.raw, policy=POLICY))

        def body(subtype: str) -> str | None:
            part = message.get_body(preferencelist=(subtype,))
            if part is None or part.get_content_subtype() != subtype:
                return None
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                # An unknown charset or broken encoding: the raw message still shows it.
                return None
            # Lines travel as CRLF over SMTP; readers and tests want plain newlines.
            return content.replace("\r\n", "\n")

        return {
            "subject": str(message.get("Subject", "")),
            "from_": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "date": str(message.get("Date", "")),
            "message_id": str(message.get("Message-ID", "")),
            "language": message.get("Content-Language"),
            "text": body("plain"),
            "html": body("html"),
        }

    subject = _Part()
    from_ = _Part()
    to = _Part()
    date = _Part()
    message_id = _Part()
    language = _Part()
    text = _Part()
    html = _Part()

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields for a mailbox page or API (without the raw bytes)."""
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "from": self.from_,
            "to": self.to,
            "date": self.date,
            "message_id": self.message_id,
            "language": self.language,
            "text": self.text,
            "html": self.html,
        }


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self._mailbox._receive(envelope)


class Mailbox:
    """The local SMTP server. ``port=0`` takes a free port; read ``port`` after ``start``.

    Messages are kept in memory (the newest ``keep``) and, with ``folder``, also written
    as ``.eml`` files that are read back on the next start.

    With ``tls_context`` it offers STARTTLS and refuses mail before it; with ``credentials``
    (username → password) it also demands AUTH, over TLS only — like the mail server of a
    real deployment, so the notifier's STARTTLS and login can be proved on this machine.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        folder: Path | None = None,
        clock: Clock | None = None,
        keep: int = 1000,
        server_name: str = "illfed-mailbox",
        tls_context: ssl.SSLContext | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        if credentials and tls_context is None:
            raise ValueError("credentials need a tls_context: AUTH is only offered over TLS")
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.folder = Path(folder) if folder is not None else None
        self._clock = clock or SystemClock()
        self._messages: deque[ReceivedMessage] = deque(maxlen=keep)
        self._next_id = 1
        self._server_name = server_name
        self._server: asyncio.Server | None = None
        self._refuse_next = 0
        self._refuse_always = False
        self._refusal = TEMPORARY_REFUSAL
        self.refused = 0
        self._arrived = asyncio.Condition()
        self._tls_context = tls_context
        self._credentials = dict(credentials) if credentials else None
        self.failed_logins = 0

    # -- running ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the mailbox is already running")
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._load_folder(self.folder)
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self._server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname=self._server_name,
                enable_SMTPUTF8=True,
                loop=loop,
                tls_context=self._tls_context,
                require_starttls=self._tls_context is not None,
                auth_required=self._credentials is not None,
                auth_require_tls=True,
                authenticator=self._authenticate if self._credentials is not None else None,
            ),
            host=self.host,
            port=self._requested_port,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("mailbox listening on %s:%s", self.host, self._port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Mailbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the mailbox has not been started")
        return self._port

    def smtp_settings(self, **overrides: Any) -> SmtpSettings:
        """Settings that deliver to this mailbox (plain SMTP, no credentials)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "local_hostname": "localhost",
            "timeout": 10.0,
        }
        values.update(overrides)
        return SmtpSettings(**values)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        known = self._credentials or {}
        if isinstance(auth_data, LoginPassword):
            username = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            expected = known.get(username)
            if expected is not None and hmac.compare_digest(expected, password):
                return AuthResult(success=True)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    # -- refusing, for tests and demonstrations ----------------------------------------

    def refuse_next(self, count: int, *, code: int = 451, text: str | None = None) -> None:
        """Refuse the next ``count`` messages with ``code`` (451: try again later)."""
        self._refuse_next = count
        self._refusal = (code, text or self._default_text(code))

    def refuse_always(self, *, code: int = 451, text: str | None = None) -> None:
        self._refuse_always = True
        self._refusal = (code, text or self._default_text(code))

    def accept_all(self) -> None:
        self._refuse_next = 0
        self._refuse_always = False

    @staticmethod
    def _default_text(code: int) -> str:
        if code >= 500:
            return "5.7.1 Message refused"
        return TEMPORARY_REFUSAL[1]

    # -- reading -------------------------------------------------------------------------

    def messages(self, *, to: str | None = None) -> list[ReceivedMessage]:
        """Messages held in memory, oldest first; ``to`` keeps those for one recipient."""
        found = list(self._messages)
        if to is not None:
            wanted = to.lower()
            found = [m for m in found if wanted in (r.lower() for r in m.rcpt_tos)]
        return found

    def get(self, message_id: int) -> ReceivedMessage | None:
        return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        """Forget the messages in memory (files in ``folder`` stay)."""
        self._messages.clear()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages are held; the messages."""

        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self._messages) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.messages()

    # -- receiving -----------------------------------------------------------------------

    async def _receive(self, envelope: Envelope) -> str:
        if self._refuse_always or self._refuse_next > 0:
            if self._refuse_next > 0:
                self._refuse_next -= 1
            self.refused += 1
            code, text = self._refusal
            return f"{code} {text}"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        received_at = self._clock.now()
        mail_from = envelope.mail_from or ""
        rcpt_tos = tuple(envelope.rcpt_tos)
        raw = self._trace(received_at, mail_from, rcpt_tos) + content
        message = ReceivedMessage.parse(
            self._next_id, raw, received_at=received_at, mail_from=mail_from, rcpt_tos=rcpt_tos
        )
        self._next_id += 1
        self._messages.append(message)
        if self.folder is not None:
            await asyncio.to_thread((self.folder / f"{message.id:08d}.eml").write_bytes, raw)
        async with self._arrived:
            self._arrived.notify_all()
        return "250 2.0.0 Message accepted for delivery"

    def _trace(self, received_at: datetime, mail_from: str, rcpt_tos: tuple[str, ...]) -> bytes:
        # The trace headers a delivering MTA adds; they let the .eml files be read back
        # with their envelope.
        lines = [f"Return-Path: <{mail_from}>"]
        lines += [f"Delivered-To: {rcpt}" for rcpt in rcpt_tos]
        lines.append(f"Received: by {self._server_name}; {format_datetime(received_at)}")
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def _load_folder(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.eml")):
            try:
                message_id = int(path.stem)
                raw = path.read_bytes()
                parsed = email.message_from_bytes(raw, policy=POLICY)
                received = str(parsed.get("Received", ""))
                received_at = (
                    parsedate_to_datetime(received.rpartition(";")[2].strip())
                    if ";" in received
                    else datetime.fromtimestamp(path.stat().st_mtime, UTC)
                )
                self._messages.append(
                    ReceivedMessage.parse(
                        message_id,
                        raw,
                        received_at=received_at,
                        mail_from=str(parsed.get("Return-Path", "")).strip("<>"),
                        rcpt_tos=tuple(str(v) for v in parsed.get_all("Delivered-To", [])),
                    )
                )
                self._next_id = max(self._next_id, message_id + 1)
            except (ValueError, OSError) as error:
                log.warning("mailbox: skipping unreadable %s: %s", path.name, error)
