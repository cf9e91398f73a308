"""The JSON the catalogue API answers with.

The routes turn the repository's views (``domain.views``) into plain dicts with the functions
here rather than through response models: a search page is built on every keystroke of a
patron, and validating it again on the way out would only cost time. A field added to a view
is added here and to the model below. The pydantic models
below describe the same shapes for the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.catalog.domain.requestability import Requestability
from services.catalog.domain.views import (
    Facets,
    FacetValue,
    HoldingView,
    LoadReport,
    RecordView,
    SearchPage,
)


def holding_json(h: HoldingView) -> dict[str, Any]:
    return {
        "library": h.library,
        "item_id": h.item_id,
        "status": h.status,
        "material_type": h.material_type,
        "service_point": h.service_point,
        "call_number": h.call_number,
        "barcode": h.barcode,
        "consortium": h.consortium,
        "version": h.version,
    }


def requestability_json(r: Requestability | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "requestable": r.requestable,
        "lenders": list(r.lenders),
        "refusals": [{"rule": x.rule, "code": x.code, "reason": x.reason} for x in r.refusals],
    }


def record_json(record: RecordView) -> dict[str, Any]:
    # Written out rather than dataclasses.asdict, which deep-copies field by field and took
    # most of the time of turning a page into JSON.
    return {
        "id": record.id,
        "title": record.title,
        "authors": list(record.authors),
        "subjects": list(record.subjects),
        "isbns": list(record.isbns),
        "issn": record.issn,
        "language": record.language,
        "publisher": record.publisher,
        "year": record.year,
        "material_type": record.material_type,
        "holdings": [holding_json(h) for h in record.holdings],
        "available_at": list(record.available_at),
        "requestability": requestability_json(record.requestability),
    }


def facets_json(facets: Facets) -> dict[str, Any]:
    def values(vs: tuple[FacetValue, ...]) -> list[dict[str, Any]]:
        return [{"value": v.value, "count": v.count} for v in vs]

    return {
        "library": values(facets.libraries),
        "material_type": values(facets.material_types),
        "language": values(facets.languages),
    }


def page_json(page: SearchPage, home_library: str | None, next_url: str | None) -> dict[str, Any]:
    return {
        "total": page.total,
        "estimated": page.estimated,
        "home_library": home_library,
        "facets": facets_json(page.facets),
        "results": [record_json(r) for r in page.hits],
        "next_cursor": page.next_cursor,
        "next": next_url,
    }


def _printable(text: str | None) -> str | None:
    # A sender's id is echoed back as sent, except what JSON cannot carry (lone surrogates).
    return None if text is None else text.encode("utf-8", "replace").decode("utf-8")


def report_json(report: LoadReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "merged": report.merged,
        "loaded": report.loaded,
        "holdings": report.holdings,
        "rejected": [
            {"index": r.index, "id": _printable(r.source_id), "reason": _printable(r.reason)}
            for r in sorted(report.rejected, key=lambda r: r.index)
        ],
    }


# -- for the OpenAPI document ----------------------------------------------------------------


class RefusalOut(BaseModel):
    rule: str | None
    code: str
    reason: str


class RequestabilityOut(BaseModel):
    requestable: bool
    lenders: list[str]
    refusals: list[RefusalOut]


class HoldingOut(BaseModel):
    library: str
    item_id: str
    status: str
    material_type: str
    service_point: str | None
    call_number: str | None
    barcode: str | None
    consortium: str | None
    version: int


class RecordOut(BaseModel):
    id: int
    title: str
    authors: list[str]
    subjects: list[str]
    isbns: list[str]
    issn: str | None
    language: str | None
    publisher: str | None
    year: int | None
    material_type: str
    holdings: list[HoldingOut]
    available_at: list[str]
    requestability: RequestabilityOut | None = None


class FacetValueOut(BaseModel):
    value: str
    count: int


class FacetsOut(BaseModel):
    library: list[FacetValueOut]
    material_type: list[FacetValueOut]
    language: list[FacetValueOut]


class SearchPageOut(BaseModel):
    total: int
    estimated: bool
    home_library: str | None
    facets: FacetsOut
    results: list[RecordOut]
    next_cursor: str | None
    next: str | None


class RejectionOut(BaseModel):
    index: int
    id: str | None
    reason: str


class LoadReportOut(BaseModel):
    created: int
    merged: int
    loaded: int
    holdings: int
    rejected: list[RejectionOut]


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemOut, "content": {"application/problem+json": {}}}
    for code in (401, 403, 404, 413, 415, 422)
}
