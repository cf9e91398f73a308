"""What a record and a holding are made of in the tables, named once for every writer and
reader (bulk load, COPY load, item changes, search)."""

from __future__ import annotations

from typing import Any

from services.catalog.domain.model import BibRecord

# A record's descriptive columns (all but the id and the timestamps).
RECORD_FIELDS = (
    "title",
    "authors",
    "subjects",
    "isbns",
    "issn",
    "language",
    "publisher",
    "year",
    "material_type",
)
# A holding's key, then what its owner reports and may change.
HOLDING_KEY = ("library", "item_id")
HOLDING_STATE = (
    "record_id",
    "status",
    "material_type",
    "service_point",
    "call_number",
    "barcode",
    "version",
)


def record_row(rec: BibRecord) -> dict[str, Any]:
    """The ``records`` row of a new work."""
    return {
        "title": rec.title,
        "authors": list(rec.authors),
        "subjects": list(rec.subjects),
        "isbns": list(rec.isbns),
        "issn": rec.issn,
        "language": rec.language,
        "publisher": rec.publisher,
        "year": rec.year,
        "material_type": rec.material_type,
    }
