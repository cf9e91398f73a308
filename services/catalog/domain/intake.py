"""Records loaded as JSON: the accepted shape, and validation into :class:`BibRecord`.

One JSON record::

    {"id": "cityu-b1234567",            # optional: the sender's own id, quoted in errors
     "title": "香港歷史", "authors": ["劉智鵬"], "subjects": ["Hong Kong -- History"],
     "isbn": ["978-962-209-123-4"],      # or "isbns"; one string is accepted too
     "issn": null, "language": "chi", "publisher": "中華書局", "year": 2019,
     "material_type": "book",            # one of model.MATERIAL_TYPES; default book
     "holdings": [{"library": "cityu", "item_id": "i0001", "status": "AVAILABLE",
                   "material_type": "reference", "service_point": "main",
                   "call_number": "DS796.H757 L58 2019", "barcode": "30001234", "version": 3}]}

A record that does not fit is rejected with every problem in one sentence; the others load.
A file or request body holds a JSON array of records, one record, or JSON Lines (one record
per line, see :func:`read_json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from libs.common.items import ItemStatus, MaterialType
from services.catalog.domain.identifiers import isbn13, issn
from services.catalog.domain.model import (
    BibRecord,
    Holding,
    InvalidRecord,
    Rejection,
    normalize_language,
)

# What the catalogue's columns hold (``adapters.tables``): a longer value is the sender's
# mistake, reported with the record, not a database error for the whole load.
HOLDING_LIMITS = {
    "library": 40,
    "item_id": 64,
    "service_point": 40,
    "call_number": 100,
    "barcode": 64,
}
MAX_VERSION = 2**31 - 1
MIN_YEAR, MAX_YEAR = 1000, 2999
# NUL and lone UTF-16 surrogates (JSON "\u0000", "\ud800") cannot be stored as text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class HoldingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    library: str = Field(min_length=1, max_length=40)
    item_id: str = Field(min_length=1, max_length=64)
    status: ItemStatus = "AVAILABLE"
    material_type: MaterialType | None = None
    service_point: str | None = Field(default=None, max_length=40)
    call_number: str | None = Field(default=None, max_length=100)
    barcode: str | None = Field(default=None, max_length=64)
    version: int = Field(default=0, ge=0, le=MAX_VERSION)


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    id: str | None = Field(default=None, max_length=200)
    title: str = Field(min_length=1, max_length=2000)
    # Generous (a heading's words may be long, and are indexed by their first 100
    # characters) but bounded, so one record cannot be the size of the whole load.
    authors: list[Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=list, max_length=100
    )
    subjects: list[Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=list, max_length=200
    )
    isbns: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, alias="isbn", max_length=50
    )
    # Longer than stored: both are normalised (hyphens, codes) before they are kept.
    issn: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=40)
    publisher: str | None = Field(default=None, max_length=500)
    year: int | None = Field(default=None, ge=MIN_YEAR, le=MAX_YEAR)
    material_type: MaterialType = "book"
    holdings: list[HoldingIn] = Field(default_factory=list, max_length=10_000)

    @field_validator("isbns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "record"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def build_record(
    *,
    title: str,
    authors: Iterable[str] = (),
    subjects: Iterable[str] = (),
    isbns: Iterable[str] = (),
    issn_raw: str | None = None,
    language: str | None = None,
    publisher: str | None = None,
    year: int | None = None,
    material_type: str = "book",
    holdings: Iterable[Holding] = (),
    source_id: str | None = None,
    position: int | None = None,
) -> BibRecord:
    """A validated record, or :class:`InvalidRecord` naming what is wrong."""
    problems = []
    title = " ".join(title.split())
    if not title:
        problems.append("title is empty")
    canonical: list[str] = []
    for raw in isbns:
        value = isbn13(raw)
        if value is None:
            problems.append(f"ISBN {raw!r} is not a valid ISBN-10 or ISBN-13")
        elif value not in canonical:
            canonical.append(value)
    issn_value = None
    if issn_raw:
        issn_value = issn(issn_raw)
        if issn_value is None:
            problems.append(f"ISSN {issn_raw!r} is not valid")
    try:
        lang = normalize_language(language)
    except ValueError as exc:
        problems.append(str(exc))
        lang = None
    for name, values in (
        ("title", [title]),
        ("authors", authors := list(authors)),
        ("subjects", subjects := list(subjects)),
        ("publisher", [publisher or ""]),
    ):
        if any(_UNSTORABLE.search(v) for v in values):
            problems.append(f"{name}: contains a NUL character or an unpaired surrogate")
    seen_items: set[tuple[str, str]] = set()
    held = []
    for h in holdings:
        problems.extend(_holding_problems(h))
        if (h.library, h.item_id) in seen_items:
            problems.append(f"item {h.library}/{h.item_id} is listed twice")
        seen_items.add((h.library, h.item_id))
        held.append(h if h.material_type else _with_type(h, material_type))
    if problems:
        raise InvalidRecord("; ".join(problems))
    return BibRecord(
        title=title,
        authors=tuple(a for a in (" ".join(x.split()) for x in authors) if a),
        subjects=tuple(s for s in (" ".join(x.split()) for x in subjects) if s),
        isbns=tuple(canonical),
        issn=issn_value,
        language=lang,
        publisher=" ".join(publisher.split()) if publisher else None,
        year=year,
        material_type=material_type,
        holdings=tuple(held),
        source_id=source_id,
        position=position,
    )


def _holding_problems(h: Holding) -> list[str]:
    out = []
    for name, limit in HOLDING_LIMITS.items():
        value = getattr(h, name)
        if value is None:
            continue
        if len(value) > limit:
            out.append(f"item {h.item_id[:64]!r}: {name} is longer than {limit} characters")
        if _UNSTORABLE.search(value):
            out.append(f"item {h.item_id[:64]!r}: {name} contains a NUL character or a surrogate")
    if not 0 <= h.version <= MAX_VERSION:
        out.append(f"item {h.item_id[:64]!r}: version {h.version} is out of range")
    return out


def _with_type(h: Holding, material_type: str) -> Holding:
    return Holding(
        library=h.library,
        item_id=h.item_id,
        status=h.status,
        material_type=material_type,
        service_point=h.service_point,
        call_number=h.call_number,
        barcode=h.barcode,
        version=h.version,
    )


def record_from_json(data: Any, position: int | None = None) -> BibRecord:
    """One JSON record (see the module docstring) as a :class:`BibRecord`."""
    if not isinstance(data, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(data).__name__}")
    try:
        parsed = RecordIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidRecord(_describe(exc)) from None
    return build_record(
        title=parsed.title,
        authors=parsed.authors,
        subjects=parsed.subjects,
        isbns=parsed.isbns,
        issn_raw=parsed.issn,
        language=parsed.language,
        publisher=parsed.publisher,
        year=parsed.year,
        material_type=parsed.material_type,
        holdings=[Holding(**h.model_dump()) for h in parsed.holdings],
        source_id=parsed.id,
        position=position,
    )


def records_from_json(items: Iterable[Any]) -> Iterator[BibRecord | Rejection]:
    """Each item as a record, or as a rejection with its position and reason."""
    for index, item in enumerate(items):
        source_id = item.get("id") if isinstance(item, dict) else None
        try:
            yield record_from_json(item, index)
        except InvalidRecord as exc:
            yield Rejection(index=index, reason=str(exc), source_id=_as_text(source_id))


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


_TOO_DEEP = "the JSON nests deeper than any record does"


class UnreadableJson(ValueError):
    """The body as a whole is not JSON records (an array cut short, not an array, ...)."""


def json_items(text: str) -> list[Any]:
    """The items of a JSON array, a single JSON object, or JSON Lines. In JSON Lines a line that
    does not parse becomes a :class:`BadLine` (a rejected record, not a failed load); an array
    or object that does not parse fails as a whole (:class:`UnreadableJson`)."""
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("["):
        try:
            items = json.loads(body)
        except ValueError as exc:
            # JSONDecodeError, or a number too long to convert (Python's digit limit).
            raise UnreadableJson(f"the JSON array is not valid JSON: {exc}") from None
        except RecursionError:
            raise UnreadableJson(_TOO_DEEP) from None
        if not isinstance(items, list):
            raise UnreadableJson("expected a JSON array of records")
        return items
    if body.startswith("{"):
        # One record, possibly spread over several lines; else JSON Lines.
        try:
            return [json.loads(body)]
        except (ValueError, RecursionError):
            pass
    out: list[Any] = []
    for line in body.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                out.append(BadLine(str(exc)))
            except RecursionError:
                out.append(BadLine(_TOO_DEEP))
    return out


class BadLine(str):
    """A JSON Lines line that does not parse; the text is the parser's message."""


def read_json(text: str) -> list[BibRecord | Rejection]:
    """Every record of a JSON body (array, one object or JSON Lines) as a record or a
    rejection with its position and reason."""
    items = json_items(text)
    out: list[BibRecord | Rejection] = []
    for index, (item, result) in enumerate(zip(items, records_from_json(items), strict=True)):
        if isinstance(item, BadLine):
            out.append(Rejection(index, f"not JSON: {item}"))
        else:
            out.append(result)
    return out
