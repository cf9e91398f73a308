"""The words every service uses for an item: its status and its material type.

One definition, read by the item contracts, the policy engine, circulation and the catalogue,
so an item read from a message can be handed to any of them unchanged.
"""

from __future__ import annotations

from typing import Literal

ItemStatus = Literal[
    "AVAILABLE",
    "ON_LOAN",
    "ON_HOLD_SHELF",
    "IN_TRANSIT",
    "ON_ILL_LOAN",
    "MISSING",
    "LOST",
    "DAMAGED",
    "IN_PROCESSING",
    "WITHDRAWN",
]
"""An item's status; only the owning library changes it."""

MaterialType = Literal[
    "book",
    "book_with_disc",
    "serial",
    "periodical_back_issue",
    "media",
    "thesis",
    "reference",
]
"""What an item is. ``book_with_disc`` is the main item of a set; its disc or map is an
accompanying item (it carries ``main_item_id``)."""
