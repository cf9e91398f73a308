"""Message contracts shared by every service: the envelope and the versioned payloads."""

from libs.common.contracts import events, ill  # noqa: F401  (registers the contracts)
from libs.common.contracts.envelope import Envelope, new_id
from libs.common.contracts.events import ItemChanged, NoticeRequested
from libs.common.contracts.ill import (
    IllCardLost,
    IllError,
    IllRequest,
    IllRequesterMessage,
    IllRouting,
    IllSupplierMessage,
    LoanTerms,
)
from libs.common.contracts.registry import contract, contract_of, model_for, parse_payload

__all__ = [
    "Envelope",
    "IllCardLost",
    "IllError",
    "IllRequest",
    "IllRequesterMessage",
    "IllRouting",
    "IllSupplierMessage",
    "ItemChanged",
    "LoanTerms",
    "NoticeRequested",
    "contract",
    "contract_of",
    "model_for",
    "new_id",
    "parse_payload",
]
