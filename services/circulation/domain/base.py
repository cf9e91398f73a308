"""The base every circulation domain model shares: immutable, strict, with string ids."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


def new_id() -> str:
    return str(uuid.uuid4())


class DomainModel(BaseModel):
    # Immutable: an operation returns the changed copy, so a refused operation cannot leave
    # half-changed state behind. Strict about unknown fields, so a typo is an error.
    model_config = ConfigDict(extra="forbid", frozen=True)
