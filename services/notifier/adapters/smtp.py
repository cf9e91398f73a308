"""E-mail out over real SMTP (aiosmtplib), and the message each notice becomes."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from services.notifier.adapters.mail_policy import POLICY
from services.notifier.adapters.rendering import RenderedNotice
from services.notifier.domain.library import LibraryContact


class SmtpSettings(BaseModel):
    """Where and how to hand mail over. The defaults suit the local mailbox of ``make run``."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=1, le=65535)
    start_tls: bool = Field(default=False, description="upgrade with STARTTLS after connect")
    use_tls: bool = Field(default=False, description="implicit TLS from the first byte (465)")
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    validate_certs: bool = True
    cert_bundle: str | None = Field(
        default=None, description="CA certificates (PEM file) to trust, for a private CA"
    )
    local_hostname: str | None = Field(default=None, description="name sent in EHLO")
    envelope_from: str | None = Field(
        default=None, description="bounce address; the library's own address when unset"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if self.start_tls and self.use_tls:
            raise ValueError("start_tls and use_tls exclude each other")
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.username and not (self.start_tls or self.use_tls) and not _is_loopback(self.host):
            # The password would cross the network in clear text.
            raise ValueError("credentials for a remote SMTP server need start_tls or use_tls")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpDeliveryError(Exception):
    """Handing a message over failed. ``permanent``: the server refused this very message
    or recipient (5xx), so asking again cannot help."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def message_id_for(notice_id: str, library_email: str) -> str:
    """The same Message-ID for every attempt at one notice, so a retry is recognisable."""
    local = (
        notice_id
        if _SAFE_ID.match(notice_id)
        else hashlib.sha256(notice_id.encode()).hexdigest()[:32]
    )
    domain = library_email.rpartition("@")[2] or "illfed.invalid"
    return f"<notice.{local}@{domain}>"


def build_message(
    rendered: RenderedNotice,
    *,
    library: LibraryContact,
    to: str,
    notice_id: str,
    sent_at: datetime,
) -> EmailMessage:
    """A multipart/alternative e-mail (text, then HTML) from the patron's home library."""
    message = EmailMessage(policy=POLICY)
    local, _, domain = library.email.partition("@")
    message["From"] = Address(
        display_name=library.name_in(rendered.language), username=local, domain=domain
    )
    message["To"] = to
    # The email package encodes a non-ASCII subject (RFC 2047) when the message is sent.
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id_for(notice_id, library.email)
    # RFC 3834: tells vacation responders not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    # Set after the parts exist: turning the message multipart moves Content-* headers
    # down into the first part.
    message["Content-Language"] = rendered.language
    return message


def classify_smtp_error(error: aiosmtplib.SMTPException) -> tuple[bool, int | None]:
    """Whether the server refused for good (and its reply code, when it gave one)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        return bool(codes) and all(code >= 500 for code in codes), (codes[0] if codes else None)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return error.code >= 500, error.code
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        # Typically an address the server cannot carry (no SMTPUTF8): it will not change.
        return True, None
    # Connection trouble, timeouts, 4xx, and refusals that point at our own set-up
    # (authentication, sender) are worth retrying: an operator can fix the cause.
    code = getattr(error, "code", None)
    return False, code


_this_host: str | None = None


async def _own_name() -> str:
    """The name this machine gives in EHLO when none is configured: looked up once per
    process (aiosmtplib would ask ``socket.getfqdn`` in a thread for every e-mail)."""
    global _this_host
    if _this_host is None:
        _this_host = await asyncio.to_thread(socket.getfqdn)
    return _this_host


async def send_email(message: EmailMessage, settings: SmtpSettings) -> None:
    """Hand ``message`` to the configured SMTP server, or raise :class:`SmtpDeliveryError`."""
    password = settings.password.get_secret_value() if settings.password else None
    local_hostname = settings.local_hostname
    if local_hostname is None:
        local_hostname = await _own_name()
    try:
        await aiosmtplib.send(
            message,
            sender=settings.envelope_from,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password,
            start_tls=settings.start_tls,
            use_tls=settings.use_tls,
            validate_certs=settings.validate_certs,
            cert_bundle=settings.cert_bundle,
            timeout=settings.timeout,
            local_hostname=local_hostname,
        )
    except aiosmtplib.SMTPException as error:
        permanent, code = classify_smtp_error(error)
        raise SmtpDeliveryError(
            f"{type(error).__name__}: {error}", permanent=permanent, code=code
        ) from error
    except (OSError, TimeoutError) as error:
        raise SmtpDeliveryError(f"{type(error).__name__}: {error}", permanent=False) from error
