"""What the catalogue answers: records with holdings, search pages with facets, load reports.

Plain frozen dataclasses; ``dataclasses.asdict`` turns any of them into JSON-ready data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.catalog.domain.model import AVAILABLE, Rejection
from services.catalog.domain.requestability import Requestability


@dataclass(frozen=True, slots=True)
class HoldingView:
    library: str
    item_id: str
    status: str
    material_type: str
    service_point: str | None
    call_number: str | None
    barcode: str | None
    consortium: str | None
    version: int


@dataclass(frozen=True, slots=True)
class RecordView:
    id: int
    title: str
    authors: tuple[str, ...]
    subjects: tuple[str, ...]
    isbns: tuple[str, ...]
    issn: str | None
    language: str | None
    publisher: str | None
    year: int | None
    material_type: str
    holdings: tuple[HoldingView, ...]
    requestability: Requestability | None = None

    @property
    def available_at(self) -> tuple[str, ...]:
        return tuple(sorted({h.library for h in self.holdings if h.status == AVAILABLE}))


@dataclass(frozen=True, slots=True)
class FacetValue:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class Facets:
    libraries: tuple[FacetValue, ...]
    material_types: tuple[FacetValue, ...]
    languages: tuple[FacetValue, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, best first.

    ``total`` and the facet counts are exact when ``estimated`` is False. A search with more
    matches than the catalogue counts one by one (a few thousand) reports them estimated from a
    uniform sample of its matches, to within a few percent.
    """

    hits: tuple[RecordView, ...]
    total: int
    estimated: bool
    facets: Facets
    next_cursor: str | None


@dataclass(slots=True)
class LoadReport:
    """What a load did: records created, records merged into an existing one (the same work
    already catalogued, or twice in the input), holdings written, and the rejected records."""

    created: int = 0
    merged: int = 0
    holdings: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.created + self.merged

    def add(self, other: LoadReport) -> None:
        self.created += other.created
        self.merged += other.merged
        self.holdings += other.holdings
        self.rejected.extend(other.rejected)
