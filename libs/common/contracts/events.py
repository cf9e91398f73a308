"""Message contracts (payloads). Each is registered with a type name and a version.

Changing a contract incompatibly means a new version next to the old, never an edit in place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.common.contracts.registry import contract
from libs.common.items import ItemStatus, MaterialType


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@contract("item.changed", 1, "event")
class ItemChanged(Payload):
    """An item was added, changed status, or was withdrawn at its owning library.

    ``version`` grows by one with every change of the item at its owner, so a consumer can
    apply changes in order per item and ignore stale or repeated ones.
    """

    library: str = Field(min_length=1, max_length=40)
    item_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    change: Literal["added", "status_changed", "withdrawn"]
    status: ItemStatus
    material_type: MaterialType
    service_point: str | None = None
    call_number: str | None = None
    barcode: str | None = None
    title: str | None = None
    authors: list[str] = []
    isbn: str | None = None
    language: str | None = None
    publisher: str | None = None
    year: int | None = None


NoticeKind = Literal[
    "ill_arrived",
    "reservation_ready",
    "recall",
    "overdue",
    "renewal_approved",
    "renewal_denied",
    "fine",
    "suspension",
    "lost_card_reported",
    "ill_unfilled",
    "ill_cancelled",
    "ill_charged",
    "suspension_lifted",
]


@contract("notice.requested", 1, "command")
class NoticeRequested(Payload):
    """The patron's home library asks the notifier to tell its patron something.

    Only the home library sends this: it alone knows the patron's address (privacy). The
    notifier keeps the address no longer than delivery needs.
    """

    notice_id: str = Field(min_length=1, max_length=64, description="stable id: one notice per id")
    kind: NoticeKind
    library: str = Field(description="home library code, whose name and contact the notice shows")
    patron_ref: str = Field(description="pseudonymous patron reference")
    email: str = Field(min_length=3, max_length=254)
    patron_name: str | None = None
    language: Literal["en", "zh-Hant"] = "en"
    title: str | None = None
    due_date: date | None = None
    pickup_by: date | None = None
    pickup_location: str | None = None
    transaction_ref: str | None = None
    rule: str | None = Field(default=None, description="rule ID that refused, for a denial")
    reason: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    occurred_at: datetime | None = None
