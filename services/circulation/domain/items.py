"""Items a library owns, their status, and sets (a book with its disc or map).

A set is one main item (``book_with_disc``) plus accompanying items that carry the main
item's id in ``main_item_id``; every member shares ``set_id`` and the material type of the
set, so "a disc that came with a book" is never mistaken for stand-alone media (HKPL-05,
HKPL-09, MALA-02, MALA-11).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from pydantic import Field, model_validator

from libs.common.items import ItemStatus, MaterialType
from libs.common.money import Money
from libs.common.policy import ItemFacts, Refusal
from libs.common.policy.vocabulary import Section
from services.circulation.domain.base import DomainModel, new_id

CIRCULATION_STATUSES: tuple[ItemStatus, ...] = ("ON_LOAN", "ON_HOLD_SHELF", "ON_ILL_LOAN")
"""Statuses that loans, reservations and inter-library loans (shipping, check-in) set and
clear; staff cannot set or clear them by hand, or the item would contradict its loan (lent
twice, or never lendable again)."""

LENDABLE: tuple[ItemStatus, ...] = ("AVAILABLE", "ON_HOLD_SHELF")
"""Statuses an item is lent from: on the shelf, or on the pickup shelf for the patron it is
kept for. Checkout writes ON_LOAN only over one of these, so a copy lent at another counter
meanwhile is not lent twice."""

KEPT_ON_RETURN: tuple[ItemStatus, ...] = ("WITHDRAWN", "DAMAGED")
"""A returned item in one of these stays in it: it is not put back on the shelf. A LOST item
that comes back has been found, and goes back into circulation."""


MANUAL_SOURCES: tuple[ItemStatus, ...] = tuple(
    s for s in get_args(ItemStatus) if s not in CIRCULATION_STATUSES
)
"""Statuses staff may change an item from by hand (see :func:`manual_status_refusal`)."""


def manual_status_refusal(current: str, wanted: str) -> str | None:
    """Why staff may not change an item from ``current`` to ``wanted`` by hand, if not."""
    if current in CIRCULATION_STATUSES:
        return (
            f"the item is {current}; its loan or reservation moves it (return it, report it "
            "lost or damaged on its loan, or cancel the reservation)"
        )
    if wanted in CIRCULATION_STATUSES:
        return f"{wanted} is set by lending or reserving the item, not by hand"
    return None


class Item(DomainModel):
    item_id: str = Field(default_factory=new_id)
    library: str = Field(description="the owning library, the authority over this item")
    barcode: str | None = None
    title_id: str = Field(description="the title (bibliographic record) holds are placed on")
    title: str | None = None
    material_type: MaterialType = "book"
    section: Section = "adult"
    branch: str | None = Field(default=None, description="service point the item belongs to")
    call_number: str | None = None
    price: Money | None = None
    pages: int | None = Field(default=None, ge=1)
    set_id: str | None = None
    main_item_id: str | None = None
    status: ItemStatus = "AVAILABLE"

    @model_validator(mode="after")
    def _accompanying_needs_set(self) -> Item:
        if self.main_item_id is not None and self.set_id is None:
            raise ValueError("accompanying material must belong to a set (set_id)")
        return self

    @property
    def is_accompanying(self) -> bool:
        return self.main_item_id is not None

    def with_status(self, status: ItemStatus) -> Item:
        return self.model_copy(update={"status": status})

    def facts(self, *, ill: bool = False, lender: str | None = None) -> ItemFacts:
        """The item as the policy engine sees it when someone asks to borrow it."""
        return ItemFacts(
            item_id=self.item_id,
            material_type=self.material_type,
            section=self.section,
            set_id=self.set_id,
            main_item_id=self.main_item_id,
            ill=ill,
            lender=lender,
        )


def set_members(items: Iterable[Item], set_id: str) -> list[Item]:
    """The items of one set, main item first."""
    members = [item for item in items if item.set_id == set_id]
    return sorted(members, key=lambda item: item.is_accompanying)


def main_item(items: Iterable[Item], set_id: str) -> Item | None:
    return next((i for i in items if i.set_id == set_id and not i.is_accompanying), None)


def main_item_refusal(set_id: str, main_item_id: str, main: Item | None) -> Refusal | None:
    """HKPL-09: accompanying material is lent with, and counted through, its set's main
    item, so the item it names (``main``, as found in this library) must be a main item of
    the same set; one that points anywhere else would be lent outside the quota."""
    if main is not None and main.set_id == set_id and not main.is_accompanying:
        return None
    return Refusal(
        rule="HKPL-09",
        code="invalid_main_item",
        action="adding accompanying material",
        reason=f"main_item_id {main_item_id} is not a main item of set {set_id} in this "
        "library (HKPL-09: accompanying material counts through its main item)",
    )
