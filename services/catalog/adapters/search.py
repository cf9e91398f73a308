"""Searching the catalogue, and reading records with their holdings.

How a search runs (the work per search is bounded, whatever the number of matches):

1. **Size.** The query is run on the 1-in-1024 sample of records (the ``smp_1024`` token); a
   handful of hits there is looked at closer (1 in 64). Few hits: the query is run on
   everything, up to ``EXACT_LIMIT`` matches, and the total and the facets are exact. Many
   hits: a finer sample (1 in 256, 64, 16 or 4) chosen to hold a few hundred matches gives
   the total and facets, scaled up and marked estimated. The sample is a hash of the record
   id, so it does not lean towards any library, language or load order.
2. **Order.** Relevance tiers first: the whole title is the query, then the main title (before
   a subtitle) is, then every keyword is in the title, then the keywords are elsewhere
   (authors, subjects, ISBN). Within a tier, static rank (held by more libraries first), then
   a hash of the id. A tier with few matches is fetched whole and sorted; one with a few
   thousand is read a few rank slices at a time (the ``rk_`` tokens: slices of the rank
   order, as many as its sample says hold about twice a page), which reads about a page's
   worth of rows instead of every match; a tier with many is walked in rank order (the
   ``rank_key`` index) until a page is filled, which takes about page size × catalogue size ÷
   matches rows. The switch to walking is where the costs meet.
3. **Page.** Only the page's records and holdings are read, and requestability is decided for
   the patron. Pages are cursors (keyset), at most ``MAX_PAGE_SIZE`` results each and
   ``MAX_DEPTH`` results in all.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    case,
    literal,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import any_of
from services.catalog.adapters.fulltext import matches
from services.catalog.adapters.libraries import load_directory
from services.catalog.adapters.rows import HOLDING_KEY, HOLDING_STATE, RECORD_FIELDS
from services.catalog.adapters.tables import holdings, libraries, record_search, records
from services.catalog.domain.directory import Directory
from services.catalog.domain.indexing import (
    RANK_SLICE_SHIFT,
    SAMPLE_LEVELS,
    holders_mask,
    rank_slice,
    rank_slice_token,
    sample_token,
)
from services.catalog.domain.query import (
    MAX_DEPTH,
    All,
    AnyOf,
    Cursor,
    Node,
    Patron,
    QueryPlan,
    SearchQuery,
    Term,
    Without,
    plan,
)
from services.catalog.domain.requestability import HoldingState, decide
from services.catalog.domain.views import (
    Facets,
    FacetValue,
    HoldingView,
    RecordView,
    SearchPage,
)

# Measured on 1,000,000 records: each match read costs a random heap page (the table is larger
# than the server's buffers), so every match of a mid-size result is read only up to here;
# above it the count and facets come from a sample and the page from a few rank slices.
EXACT_LIMIT = 1500
SAMPLE_TARGET = 1500
MIN_SAMPLE = 400
WALK_LIMIT = 50_000
_PROBE = SAMPLE_LEVELS[-1]
#: a tier estimated at no more than this many matches is read whole; more (up to the walk
#: threshold) are read a few rank slices at a time
FETCH_WHOLE = 400
#: rank slices asked for in one statement at most
MAX_SLICES = 96
#: below this many matches estimated from a handful of hits in the probe, look closer
CLOSER_BELOW = 25_000
_CLOSER = 64

# What a result shows (no timestamps: they are not shown, and cost time to decode).
_RECORD_FIELDS = ("id", *RECORD_FIELDS)
_HOLDING_FIELDS = (*HOLDING_KEY, *HOLDING_STATE)

# (record_id, rank_key, material_type, language, libs, tier, libs_more)
Row = tuple[int, int, str, str, int, int, bytes | None]
Key = tuple[int, int, int]  # (tier, rank_key, record_id)


def _limit(n: int):
    # A constant, not a bound parameter: PostgreSQL plans a generic prepared statement for an
    # unknown LIMIT as if it were large, and would sort instead of walking the index.
    return literal_column(str(int(n)), Integer)


def _both(a: Node | None, b: Node | None) -> Node | None:
    if a is None or b is None:
        return a if b is None else b
    return All((a, b))


def _where(dialect: str, node: Node | None, cols):
    # A record that no library holds any more (all its items withdrawn) is not shown. Almost
    # every record is held, so this is checked on the row rather than asked of the index
    # (holders beyond the column's 63 bits set its sign: see domain.indexing).
    held = cols.libs != 0
    return held if node is None else and_(matches(dialect, node, cols), held)


def _tier_nodes(p: QueryPlan) -> dict[int, Node | None]:
    """The query of each relevance tier: the matches with that tier's predicate and none of
    the better tiers' ones."""
    if p.match is None or not p.tiers:
        return {0: p.match}
    nodes: dict[int, Node | None] = {}
    for tier in range(len(p.tiers) + 1):
        better = p.tiers[:tier]
        node: Node = p.match if tier == len(p.tiers) else All((p.match, p.tiers[tier]))
        if better:
            node = Without(node, better[0] if len(better) == 1 else AnyOf(better))
        nodes[tier] = node
    return nodes


def _tier_column(dialect: str, p: QueryPlan, cols):
    if not p.tiers:
        return literal(0, Integer)
    whens = [(matches(dialect, node, cols), tier) for tier, node in enumerate(p.tiers)]
    return case(*whens, else_=len(p.tiers))


async def _scan(conn: AsyncConnection, p: QueryPlan, node: Node | None, limit: int) -> list[Row]:
    d = conn.dialect.name
    c = record_search.c
    stmt = (
        select(
            c.record_id,
            c.rank_key,
            c.material_type,
            c.language,
            c.libs,
            _tier_column(d, p, c),
            c.libs_more,
        )
        .where(_where(d, node, c))
        .limit(_limit(limit))
    )
    return [tuple(r) for r in await conn.execute(stmt)]


async def _keys(conn: AsyncConnection, node: Node | None, limit: int) -> list[tuple[int, int]]:
    c = record_search.c
    stmt = (
        select(c.rank_key, c.record_id)
        .where(_where(conn.dialect.name, node, c))
        .limit(_limit(limit))
    )
    return [tuple(r) for r in await conn.execute(stmt)]


async def _walk(
    conn: AsyncConnection, node: Node | None, after: tuple[int, int] | None, need: int
) -> list[tuple[int, int]]:
    """The first ``need`` matches after ``after`` in rank order, found by reading the rank
    index and testing each row (no sort, no bitmap of all matches)."""
    c = record_search.c
    inner = select(c.record_id, c.rank_key, c.libs, c.tokens)
    if after is not None:
        inner = inner.where(
            tuple_(c.rank_key, c.record_id) > tuple_(literal(after[0]), literal(after[1]))
        )
    # OFFSET 0 keeps the planner from pushing the match into the ordered scan.
    walk = (
        inner.order_by(c.rank_key, c.record_id)
        .limit(_limit(WALK_LIMIT))
        .offset(_limit(0))
        .subquery("walk")
    )
    stmt = (
        select(walk.c.rank_key, walk.c.record_id)
        .where(_where(conn.dialect.name, node, walk.c))
        .order_by(walk.c.rank_key, walk.c.record_id)
        .limit(_limit(need))
    )
    return [tuple(r) for r in await conn.execute(stmt)]


async def _catalogue_size(conn: AsyncConnection) -> int:
    if conn.dialect.name == "postgresql":
        n = await conn.scalar(
            text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'record_search'::regclass")
        )
        if n and n > 0:
            return int(n)
    return int(
        await conn.scalar(
            select(record_search.c.record_id).order_by(record_search.c.record_id.desc()).limit(1)
        )
        or 0
    )


async def _matches(conn: AsyncConnection, p: QueryPlan) -> tuple[list[Row], int]:
    """The matches to count and facet: (rows, level) where level 1 means every match and n
    means the 1-in-n sample of them."""
    level = _PROBE
    rows = await _scan(conn, p, _both(p.match, _sample(level)), SAMPLE_TARGET * 8)
    if len(rows) >= MIN_SAMPLE:
        return rows, level
    # A handful of hits in 1 in 1024 says little (from a few hundred to tens of thousands
    # of matches), and reading every match of a query that turns out to have more than
    # EXACT_LIMIT of them was the dearest statement of a search: a few hits are looked at
    # closer (1 in 64, a few hundred rows at most) before choosing. None at all: count
    # every match at once.
    if rows and len(rows) * level < CLOSER_BELOW:
        level = _CLOSER
        rows = await _scan(conn, p, _both(p.match, _sample(level)), SAMPLE_TARGET * 8)
        if len(rows) >= MIN_SAMPLE:
            return rows, level
    estimate = len(rows) * level
    if estimate <= EXACT_LIMIT * 3 // 4:
        rows = await _scan(conn, p, p.match, EXACT_LIMIT + 1)
        if len(rows) <= EXACT_LIMIT:
            return rows, 1
        estimate = len(rows)
    finer = max(
        (n for n in SAMPLE_LEVELS[:-1] if estimate / n >= MIN_SAMPLE), default=SAMPLE_LEVELS[0]
    )
    if finer == level:
        return rows, level
    return await _scan(conn, p, _both(p.match, _sample(finer)), SAMPLE_TARGET * 8), finer


def walk_threshold(need: int, catalogue_size: int) -> int:
    """Above this many matches a tier is walked in rank order rather than fetched whole.
    Fetching costs about one row per match; walking about need × size ÷ matches rows (fewer
    per row when the rows are stored in rank order): the two meet near sqrt(need × size)."""
    return math.isqrt(need * max(catalogue_size, 1)) + 1


def _sample(level: int) -> Node:
    return Term(sample_token(level))


async def _ordered_keys(
    conn: AsyncConnection,
    p: QueryPlan,
    rows: list[Row],
    level: int,
    cursor: Cursor | None,
    need: int,
) -> list[Key]:
    after = cursor.order_key() if cursor else None
    if level == 1:
        keys = sorted((r[5], r[1], r[0]) for r in rows)
        if after is not None:
            keys = [k for k in keys if k > after]
        return keys[:need]

    tiers = Counter(r[5] for r in rows)
    budget = walk_threshold(need, await _catalogue_size(conn))
    levels: list[int] | None = None
    out: list[Key] = []
    for tier, node in sorted(_tier_nodes(p).items()):
        if after is not None and tier < after[0]:
            continue
        start = (after[1], after[2]) if after is not None and tier == after[0] else None
        want = need - len(out)
        found: list[tuple[int, int]] | None = None
        estimate = tiers[tier] * level
        if estimate <= budget and (estimate <= FETCH_WHOLE or conn.dialect.name != "postgresql"):
            got = await _keys(conn, node, 2 * budget + 1)
            if len(got) <= 2 * budget:
                found = sorted(k for k in got if start is None or k > start)[:want]
        elif estimate <= budget:
            if levels is None:
                levels = await _rank_levels(conn)
            sampled = Counter(rank_slice(r[1]) for r in rows if r[5] == tier)
            found = await _by_slices(conn, node, start, want, sampled, level, levels, budget)
        if found is None:
            found = await _walk(conn, node, start, want)
        out.extend((tier, rk, rid) for rk, rid in found)
        if len(out) >= need:
            break
    return out[:need]


async def _rank_levels(conn: AsyncConnection) -> list[int]:
    """The numbers of libraries holding (as ``rank_key >> 32``) that some record has, read
    off the rank index one level at a time."""
    rows = await conn.execute(_RANK_LEVELS)
    return [int(k) for (k,) in rows if k is not None]


# A loose index scan: the first rank key, then the first one of each next level.
_RANK_LEVELS = text(
    "WITH RECURSIVE lv(k) AS ("
    " SELECT (SELECT rank_key >> 32 FROM record_search ORDER BY rank_key LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT rank_key >> 32 FROM record_search"
    " WHERE rank_key >= ((lv.k + 1) << 32) ORDER BY rank_key LIMIT 1)"
    " FROM lv WHERE lv.k IS NOT NULL)"
    " SELECT k FROM lv"
)


async def _by_slices(
    conn: AsyncConnection,
    node: Node | None,
    start: tuple[int, int] | None,
    want: int,
    sampled: Counter,
    level: int,
    levels: list[int],
    budget: int,
) -> list[tuple[int, int]] | None:
    """The first ``want`` matches after ``start`` in rank order, read a few rank slices at a
    time (the ``rk_`` tokens): slices from the start on, as many as the sample says hold
    about twice what is wanted, then twice that, until enough are found. Every match of the
    slices read is read, so the order is exact; None when a group held far more than the
    sample said (the caller walks instead)."""
    per_level = 1 << (32 - RANK_SLICE_SHIFT)
    first = rank_slice(start[0]) if start is not None else None
    slices = [
        (lv << (32 - RANK_SLICE_SHIFT)) + sub
        for lv in sorted(levels)
        for sub in range(per_level)
        if first is None or (lv << (32 - RANK_SLICE_SHIFT)) + sub >= first
    ]
    found: list[tuple[int, int]] = []
    target = 2 * want
    i = 0
    while i < len(slices) and len(found) < want:
        group: list[int] = []
        expected = 0
        while i < len(slices) and len(group) < MAX_SLICES and (not group or expected < target):
            group.append(slices[i])
            expected += sampled[slices[i]] * level
            i += 1
        terms = tuple(Term(rank_slice_token(n)) for n in group)
        ranked = Term(terms[0].token) if len(terms) == 1 else AnyOf(terms)
        got = await _keys(conn, _both(node, ranked), 2 * budget + 1)
        if len(got) > 2 * budget:
            return None
        found.extend(k for k in got if start is None or k > start)
        found.sort()
        target *= 2
    return found[:want]


def _facets(rows: Sequence[Row], level: int, directory: Directory, p: QueryPlan) -> Facets:
    def values(counter: Counter) -> tuple[FacetValue, ...]:
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(FacetValue(str(v), n * level) for v, n in ranked if n)

    masks = Counter(r[4] for r in rows)
    if any(mask < 0 for mask in masks):
        # Some holders are numbered beyond the 64-bit column (its sign bit says so): their
        # bits are in libs_more. Never the case in a catalogue of up to 63 libraries.
        masks = Counter(holders_mask(r[4], r[6]) for r in rows)
    allowed = set(p.facet_libraries) if p.facet_libraries is not None else None
    by_bit = {
        lib.bit: code
        for code, lib in directory.libraries.items()
        if allowed is None or code in allowed
    }
    per_bit: Counter = Counter()
    for mask, n in masks.items():
        # Only the set bits (a record is held by a few libraries, not all of them).
        while mask:
            low = mask & -mask
            per_bit[low.bit_length() - 1] += n
            mask ^= low
    libs = Counter({by_bit[bit]: n for bit, n in per_bit.items() if bit in by_bit})
    return Facets(
        libraries=values(libs),
        material_types=values(Counter(r[2] for r in rows)),
        languages=values(Counter(r[3] for r in rows)),
    )


async def search(conn: AsyncConnection, query: SearchQuery) -> SearchPage:
    """One page of the records matching ``query``, best first, with the total and facets.

    Raises ``InvalidQuery`` (a ValueError) for a query that cannot run (unknown material type,
    page size over the limit, bad cursor, scope without a library or consortium)."""
    directory = await load_directory(conn)
    consortia = {lib.consortium for lib in directory.libraries.values() if lib.consortium}
    p = plan(query, {c: directory.members(c) for c in consortia})
    cursor = Cursor.decode(query.cursor) if query.cursor else None
    served = cursor.served if cursor else 0

    rows, level = await _matches(conn, p)
    facets = _facets(rows, level, directory, p)
    total = len(rows) * level
    room = max(0, min(query.page_size, MAX_DEPTH - served))
    keys = await _ordered_keys(conn, p, rows, level, cursor, room + 1) if room else []
    page, more = keys[:room], len(keys) > room
    next_cursor = None
    if more and page and served + len(page) < MAX_DEPTH:
        last = page[-1]
        next_cursor = Cursor(last[0], last[1], last[2], served + len(page)).encode()
    hits = await read_records(conn, [k[2] for k in page], directory=directory, patron=query.patron)
    return SearchPage(
        hits=tuple(hits),
        total=total,
        estimated=level > 1,
        facets=facets,
        next_cursor=next_cursor,
    )


def _records_by_id(conn: AsyncConnection):
    return select(*(records.c[name] for name in _RECORD_FIELDS)).where(
        any_of(conn, records.c.id, "ids", BigInteger)
    )


def _holdings_of(with_consortia: bool):
    """The holdings of the records ``ids``, with their holders' consortia or without."""

    def build(conn: AsyncConnection):
        stmt = select(*(holdings.c[name] for name in _HOLDING_FIELDS))
        if with_consortia:
            stmt = stmt.add_columns(libraries.c.consortium).select_from(
                holdings.outerjoin(libraries, libraries.c.code == holdings.c.library)
            )
        return stmt.where(any_of(conn, holdings.c.record_id, "ids", BigInteger)).order_by(
            holdings.c.library, holdings.c.item_id
        )

    return build


async def read_records(
    conn: AsyncConnection,
    record_ids: Sequence[int],
    *,
    directory: Directory | None = None,
    patron: Patron | None = None,
) -> list[RecordView]:
    """The records ``record_ids`` with their holdings, in that order (missing ids left out);
    with ``patron``, whether that patron may request each."""
    if not record_ids:
        return []
    ids = {"ids": list(record_ids)}
    recs = {r.id: r for r in await hot_sql.run(conn, "records by id", _records_by_id, ids)}
    held: dict[int, list[HoldingView]] = defaultdict(list)
    # A record looked up by id (a request placed, then routed): its holders' consortia come
    # with its holdings instead of reading the whole directory, which grows with the
    # federation (a search has read it already for its facets).
    with_consortia = directory is None
    rows = await hot_sql.run(
        conn, ("holdings of records", with_consortia), _holdings_of(with_consortia), ids
    )
    for h in rows:
        held[h.record_id].append(
            HoldingView(
                library=h.library,
                item_id=h.item_id,
                status=h.status,
                material_type=h.material_type,
                service_point=h.service_point,
                call_number=h.call_number,
                barcode=h.barcode,
                consortium=h.consortium
                if directory is None
                else directory.consortium_of(h.library),
                version=h.version,
            )
        )
    out = []
    for rid in record_ids:
        r = recs.get(rid)
        if r is None:
            continue
        items = tuple(held.get(rid, ()))
        decision = None
        if patron is not None:
            decision = decide(
                [
                    HoldingState(
                        h.library, h.consortium, h.status, h.material_type, h.service_point
                    )
                    for h in items
                ],
                home_library=patron.home_library,
                consortium=patron.consortium,
                record_material_type=r.material_type,
            )
        out.append(
            RecordView(
                id=r.id,
                title=r.title,
                authors=tuple(r.authors),
                subjects=tuple(r.subjects),
                isbns=tuple(r.isbns),
                issn=r.issn,
                language=r.language,
                publisher=r.publisher,
                year=r.year,
                material_type=r.material_type,
                holdings=items,
                requestability=decision,
            )
        )
    return out


async def get_record(
    conn: AsyncConnection, record_id: int, *, patron: Patron | None = None
) -> RecordView | None:
    """One record with its holdings (and, for ``patron``, whether they may request it)."""
    found = await read_records(conn, [record_id], patron=patron)
    return found[0] if found else None
