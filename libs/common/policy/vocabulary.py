"""Words the policy engine and the circulation services share: material types, library
sections and rule IDs.

``MaterialType`` is the one of ``libs.common.items``, the vocabulary of the item contracts, so an
item read from a message can be handed to the engine unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from libs.common.items import MaterialType

__all__ = ["RULE_ID_PATTERN", "MaterialType", "MinorAmount", "RuleId", "Section"]

Section = Literal["adult", "young_adult", "children"]
"""The library section an item is lent from; HKPL-10 sets the fine by section."""

RULE_ID_PATTERN = r"^[A-Z][A-Z0-9]*-[0-9]{2,3}$"
RuleId = Annotated[str, Field(pattern=RULE_ID_PATTERN, description="rule ID, e.g. HKPL-03")]
"""A rule's ID as ``rules.md`` names it (``HKPL-03``, ``HKALL-16``, ``MALA-05``)."""

MinorAmount = Annotated[int, Field(ge=0, description="money in the policy currency's minor unit")]
