"""Settings from the environment (pydantic-settings), one prefix per service.

Outside development a default secret is refused at start-up: a deployment that forgot to set
one must not come up signing tokens with a key everybody can read in this repository.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "illfed-development-secret-change-me"


class CommonSettings(BaseSettings):
    """Settings every service has. Subclasses set ``model_config`` with their own prefix,
    e.g. ``ILLFED_CATALOG_``; the shared ones below can also come unprefixed via ILLFED_."""

    model_config = SettingsConfigDict(env_prefix="ILLFED_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///data/illfed.db"
    # "memory" is the in-process bus of the embedded federation; an amqp:// URL is RabbitMQ.
    bus_url: str = "memory"
    secret_key: str = DEV_SECRET
    token_ttl_seconds: int = 3600
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_default_secret_outside_development(self) -> CommonSettings:
        # A test or staging deployment reachable by others is as exposed as production: only a
        # developer's own machine may run on the published default.
        if self.environment != "development" and self.secret_key == DEV_SECRET:
            raise ValueError(
                f"secret_key is the development default; set a real secret for {self.environment}"
            )
        if self.environment != "development" and len(self.secret_key) < 32:
            raise ValueError(
                f"secret_key must be at least 32 characters outside development "
                f"({self.environment})"
            )
        return self


def derived_secret(secret_key: str, purpose: str) -> str:
    """A per-purpose secret (a library's client secret, its broker password) derived from the
    deployment secret, so a development federation needs only one secret configured."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


def service_settings(service: str, **values) -> CommonSettings:
    """Settings of one service, read from ``ILLFED_<SERVICE>_*`` environment variables."""
    cls = type(
        f"{service.title()}Settings",
        (CommonSettings,),
        {
            "model_config": SettingsConfigDict(
                env_prefix=f"ILLFED_{service.upper()}_", extra="ignore"
            )
        },
    )
    return cls(**values)
