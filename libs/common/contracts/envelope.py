"""The envelope every message between services travels in.

The envelope is the part RabbitMQ routing, the outbox, the inbox and the dead-letter handling
understand; the payload is a versioned contract of its own (see :mod:`.registry`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def new_id() -> str:
    return str(uuid.uuid4())


class Envelope(BaseModel):
    """Metadata of one message. ``correlation_id`` is the ILL transaction (or the item) it is
    about; ``causation_id`` is the message that caused this one."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=80, description="contract name, e.g. item.changed")
    version: int = Field(ge=1, description="schema version of the payload")
    sender: str = Field(min_length=1, max_length=40, description="library code or service name")
    recipient: str = Field(default="*", max_length=40, description="'*' for a broadcast event")
    correlation_id: str = Field(min_length=1, max_length=64)
    causation_id: str | None = Field(default=None, max_length=64)
    sent_at: datetime
    payload: dict[str, Any]
