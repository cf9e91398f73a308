"""A search as the patron asks it, and the token query that answers it.

Keywords, filters and scope all become one boolean query over the tokens of ``indexing``;
``render_tsquery`` and ``render_fts5`` write it for PostgreSQL and SQLite. The scope is how a
patron looks beyond their own library (HKALL-04): their library, their consortium (HKALL or
MALA), or everything.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from services.catalog.domain import indexing as ix
from services.catalog.domain.identifiers import find_isbns, find_issns
from services.catalog.domain.identifiers import issn as parse_issn
from services.catalog.domain.model import MATERIAL_TYPES, normalize_language
from services.catalog.domain.text import query_terms

Scope = Literal["library", "consortium", "all"]
MAX_PAGE_SIZE = 100
# Results beyond this position are not served: a patron refines the search instead, and the
# server never walks arbitrarily deep into a huge result set.
MAX_DEPTH = 1000
MAX_TIER = 3
_INT64 = 2**63


class InvalidQuery(ValueError):
    """The search cannot be run as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Patron:
    """Who is searching: results say whether this patron may request each title."""

    home_library: str
    consortium: str | None


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    material_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    available_now: bool = False
    scope: Scope = "all"
    # The library (scope "library") or consortium (scope "consortium"); the patron's own when
    # left out.
    scope_code: str | None = None
    patron: Patron | None = None
    page_size: int = 20
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise InvalidQuery(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        if len(self.text) > 500:
            raise InvalidQuery("the search text is longer than 500 characters")
        for mt in self.material_types:
            if mt not in MATERIAL_TYPES:
                raise InvalidQuery(f"unknown material type {mt!r}")
        if self.scope not in ("library", "consortium", "all"):
            raise InvalidQuery(f"unknown scope {self.scope!r}")


# -- boolean token queries -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    token: str


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Without:
    include: Node
    exclude: Node


Node = Term | All | AnyOf | Without


def all_of(items: list[Node]) -> Node | None:
    if not items:
        return None
    return items[0] if len(items) == 1 else All(tuple(items))


def any_of(tokens: list[str]) -> Node:
    terms: list[Node] = [Term(t) for t in dict.fromkeys(tokens)]
    return terms[0] if len(terms) == 1 else AnyOf(tuple(terms))


def render_tsquery(node: Node) -> str:
    """PostgreSQL tsquery text; lexemes are quoted so they are taken as they are."""
    if isinstance(node, Term):
        return ix.quote_lexeme(node.token)
    if isinstance(node, All):
        return " & ".join(_wrap_ts(i) for i in node.items)
    if isinstance(node, AnyOf):
        return " | ".join(_wrap_ts(i) for i in node.items)
    return f"{_wrap_ts(node.include)} & !{_wrap_ts(node.exclude)}"


def _wrap_ts(node: Node) -> str:
    return render_tsquery(node) if isinstance(node, Term) else f"({render_tsquery(node)})"


def render_fts5(node: Node) -> str:
    """SQLite FTS5 query text."""
    if isinstance(node, Term):
        return '"' + node.token.replace('"', '""') + '"'
    if isinstance(node, All):
        return " AND ".join(_wrap_fts(i) for i in node.items)
    if isinstance(node, AnyOf):
        return " OR ".join(_wrap_fts(i) for i in node.items)
    return f"{_wrap_fts(node.include)} NOT {_wrap_fts(node.exclude)}"


def _wrap_fts(node: Node) -> str:
    return render_fts5(node) if isinstance(node, Term) else f"({render_fts5(node)})"


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPlan:
    """What to ask the index.

    ``match``: the tokens a result must have (None: any record; a result must also be held by
    some library, which the search checks on the row itself). ``tiers``: relevance, best
    first: a match has the tier of the first of these it also has (the whole title is the
    query; the main title is; every keyword is in the title), or else the tier after them.
    """

    match: Node | None
    tiers: tuple[Node, ...]
    facet_libraries: tuple[str, ...] | None = field(default=None)


def plan(query: SearchQuery, consortium_members: dict[str, list[str]] | None = None) -> QueryPlan:
    """The token query for ``query``. ``consortium_members`` limits the library facet of a
    consortium-scoped search to that consortium's libraries."""
    # Full-width digits and hyphens (as a Chinese input method types them) are ISBNs too.
    text = unicodedata.normalize("NFKC", query.text)
    id_terms: list[Node] = []
    spans: list[tuple[int, int]] = []
    for isbn, span in find_isbns(text):
        id_terms.append(Term(ix.isbn_token(isbn)))
        spans.append(span)
    for issn, span in find_issns(text):
        if not any(s[0] <= span[0] < s[1] for s in spans):
            id_terms.append(Term(ix.issn_token(issn)))
            spans.append(span)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    words = query_terms(text)
    # An ISSN is often written without its hyphen ("0317847X"): the word, or that ISSN.
    word_terms: list[Node] = [
        AnyOf((Term(tok), Term(ix.issn_token(code)))) if (code := _bare_issn(tok)) else Term(tok)
        for tok in words
    ]
    title_terms: list[Node] = [Term(ix.TITLE_PREFIX + tok) for tok in words]

    scope, scope_code = query.scope, query.scope_code
    if scope != "all" and scope_code is None:
        if query.patron is None:
            raise InvalidQuery(f"scope {scope!r} needs a library or consortium, or a patron")
        scope_code = query.patron.home_library if scope == "library" else query.patron.consortium
        if scope_code is None:
            raise InvalidQuery("the patron's library belongs to no consortium")
    # Only scope "all" goes without a library or consortium code (refused above otherwise).
    code = scope_code or ""

    filters: list[Node] = []
    avail = query.available_now
    if scope == "library":
        filters.append(Term((ix.available_token if avail else ix.library_token)(code)))
    elif scope == "consortium":
        token = ix.consortium_available_token if avail else ix.consortium_token
        filters.append(Term(token(code)))
    elif avail and not query.libraries:
        filters.append(Term(ix.ANY_AVAILABLE))
    if query.libraries:
        make = ix.available_token if avail else ix.library_token
        filters.append(any_of([make(code) for code in query.libraries]))
    if query.material_types:
        filters.append(any_of([ix.material_token(mt) for mt in query.material_types]))
    if query.languages:
        try:
            codes = [normalize_language(lang) or "und" for lang in query.languages]
        except ValueError as exc:
            raise InvalidQuery(str(exc)) from None
        filters.append(any_of([ix.language_token(c) for c in codes]))

    match = all_of([*word_terms, *id_terms, *filters])
    tiers: list[Node] = []
    if word_terms and not id_terms:
        exact, main = ix.exact_title_token(text), ix.main_title_token(text)
        tiers += [Term(t) for t in (exact, main) if t]
    if word_terms:
        title_and_ids = [*title_terms, *id_terms]
        tiers.append(title_and_ids[0] if len(title_and_ids) == 1 else All(tuple(title_and_ids)))
    facet_libraries: tuple[str, ...] | None = None
    if scope == "library":
        facet_libraries = (code,)
    elif scope == "consortium" and consortium_members is not None:
        facet_libraries = tuple(consortium_members.get(code, ()))
    return QueryPlan(
        match=match,
        tiers=tuple(tiers),
        facet_libraries=facet_libraries,
    )


def _bare_issn(word: str) -> str | None:
    """The ISSN an eight-character word is (a valid check digit), else None."""
    return parse_issn(word) if len(word) == 8 else None


# -- cursors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: the order key of its last result and how many results
    were served so far."""

    tier: int
    rank_key: int
    record_id: int
    served: int

    def encode(self) -> str:
        raw = f"{self.tier}.{self.rank_key}.{self.record_id}.{self.served}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            tier, rank, rid, served = (int(p) for p in raw.split("."))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidQuery("the page cursor is not valid") from None
        # Bounded so that a forged cursor cannot push a number past what the database's
        # 64-bit columns hold (an error there, not a refusal here).
        if not (0 <= tier <= MAX_TIER and 0 <= served <= MAX_DEPTH):
            raise InvalidQuery("the page cursor is not valid")
        if not (abs(rank) < _INT64 and 0 <= rid < _INT64):
            raise InvalidQuery("the page cursor is not valid")
        return cls(tier, rank, rid, served)

    def order_key(self) -> tuple[int, int, int]:
        return (self.tier, self.rank_key, self.record_id)
