"""The notifier's own settings, from ``ILLFED_NOTIFIER_*`` environment variables.

Two things a deployment changes without a release:

- where mail goes: ``ILLFED_NOTIFIER_SMTP_HOST`` (with port, STARTTLS or implicit TLS and
  credentials) names the consortium's real mail server; left unset, notices go to the local
  mailbox the launcher starts, so a demo never mails the Internet;
- whether operators may read the local mailbox over HTTP: ``ILLFED_NOTIFIER_MAILBOX_ENABLED``
  (off unless turned on; the launcher turns it on for the demo federation);
- what notices say: ``ILLFED_NOTIFIER_TEMPLATE_DIR`` is a folder of templates laid out like
  ``services/notifier/templates`` (``<library>/<language>/<file>``, ``<language>/<file>``),
  searched before the built-in ones, so a library edits its own wording in place.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifier.adapters.rendering import NoticeRenderer
from services.notifier.adapters.smtp import SmtpSettings
from services.notifier.domain.retry import RetryPolicy


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ILLFED_NOTIFIER_", extra="ignore")

    smtp_host: str | None = Field(
        default=None, description="the mail server to send through; unset: the local mailbox"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # A real mail server gets STARTTLS unless told otherwise: credentials and patrons'
    # addresses should not cross the network in clear text.
    smtp_start_tls: bool = True
    smtp_use_tls: bool = Field(default=False, description="implicit TLS (port 465)")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_validate_certs: bool = True
    smtp_cert_bundle: str | None = None
    smtp_local_hostname: str | None = None
    smtp_envelope_from: str | None = None

    template_dir: Path | None = None

    # The demo mailbox shows patrons' names, addresses and notices: shown (to operators
    # only) when a deployment turns it on, as the launcher does for the demo federation.
    mailbox_enabled: bool = Field(
        default=False, description="serve the local mailbox's page and API to operators"
    )

    max_attempts: int = Field(default=RetryPolicy.max_attempts, ge=1)
    retry_first_delay_seconds: float = Field(default=RetryPolicy.first_delay.total_seconds(), gt=0)
    retry_max_delay_seconds: float = Field(default=RetryPolicy.max_delay.total_seconds(), gt=0)

    @field_validator("template_dir")
    @classmethod
    def _template_dir_exists(cls, value: Path | None) -> Path | None:
        # A mistyped folder would silently send the built-in wording instead of the
        # library's: refuse to start instead.
        if value is not None and not value.is_dir():
            raise ValueError(f"template_dir {value} is not a folder")
        return value

    def smtp(self) -> SmtpSettings | None:
        """The configured mail server, or None when notices go to the local mailbox."""
        if not self.smtp_host:
            return None
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            start_tls=self.smtp_start_tls and not self.smtp_use_tls,
            use_tls=self.smtp_use_tls,
            username=self.smtp_username,
            password=self.smtp_password,
            timeout=self.smtp_timeout,
            validate_certs=self.smtp_validate_certs,
            cert_bundle=self.smtp_cert_bundle,
            local_hostname=self.smtp_local_hostname,
            envelope_from=self.smtp_envelope_from,
        )

    def renderer(self) -> NoticeRenderer:
        return NoticeRenderer(extra_dirs=[self.template_dir] if self.template_dir else [])

    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            first_delay=timedelta(seconds=self.retry_first_delay_seconds),
            max_delay=timedelta(seconds=self.retry_max_delay_seconds),
        )
