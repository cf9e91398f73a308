"""The union catalogue's records: one bibliographic record per work, with the holdings (items)
of every library that has it, each with the status its owner last reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from libs.common.items import ItemStatus, MaterialType

MATERIAL_TYPES: tuple[str, ...] = get_args(MaterialType)
ITEM_STATUSES: tuple[str, ...] = get_args(ItemStatus)
AVAILABLE = "AVAILABLE"
WITHDRAWN = "WITHDRAWN"

# ISO 639-2/B codes, as MARC 008/35-37 writes them; the short and regional forms that JSON
# loads and circulation events use map onto them.
_LANGUAGE_ALIASES = {
    "en": "eng",
    "english": "eng",
    "zh": "chi",
    "zh-hant": "chi",
    "zh-hans": "chi",
    "zh-hk": "chi",
    "zh-tw": "chi",
    "zh-cn": "chi",
    "zh-mo": "chi",
    "zho": "chi",
    "chinese": "chi",
    "yue": "chi",
    "pt": "por",
    "pt-pt": "por",
    "pt-br": "por",
    "portuguese": "por",
    "ja": "jpn",
    "ko": "kor",
    "fr": "fre",
    "fra": "fre",
    "de": "ger",
    "deu": "ger",
    "es": "spa",
    "la": "lat",
    "ms": "may",
    "msa": "may",
    "vi": "vie",
    "th": "tha",
    "ru": "rus",
    "it": "ita",
    "nl": "dut",
    "nld": "dut",
}
LANGUAGE_NAMES = {
    "eng": "English",
    "chi": "Chinese",
    "por": "Portuguese",
    "jpn": "Japanese",
    "kor": "Korean",
    "fre": "French",
    "ger": "German",
    "spa": "Spanish",
    "lat": "Latin",
}
UNDETERMINED = "und"


def normalize_language(raw: str | None) -> str | None:
    """A three-letter MARC language code, ``None`` for no language, or ValueError."""
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower().replace("_", "-")
    code = _LANGUAGE_ALIASES.get(code, code)
    if len(code) == 3 and code.isalpha() and code.isascii():
        return code
    raise ValueError(f"unknown language {raw!r}: use a MARC code such as eng, chi or por")


@dataclass(frozen=True, slots=True)
class Holding:
    """One item of one library, as the owner last reported it."""

    library: str
    item_id: str
    status: str = AVAILABLE
    material_type: str | None = None
    service_point: str | None = None
    call_number: str | None = None
    barcode: str | None = None
    version: int = 0


@dataclass(frozen=True, slots=True)
class BibRecord:
    """A bibliographic record as it arrives (from JSON, MARC or a circulation event), already
    validated: ISBNs are canonical ISBN-13s, the ISSN has no hyphen, language is a MARC code."""

    title: str
    authors: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    isbns: tuple[str, ...] = ()
    issn: str | None = None
    language: str | None = None
    publisher: str | None = None
    year: int | None = None
    material_type: str = "book"
    holdings: tuple[Holding, ...] = ()
    # Where the record came from, for error reports: the sender's id, its position in the input.
    source_id: str | None = field(default=None, compare=False)
    position: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that was not loaded, and why, in words an operator understands."""

    index: int
    reason: str
    source_id: str | None = None


class InvalidRecord(ValueError):
    """The record cannot be catalogued; the message says why."""
