"""Union catalogue search benchmark on PostgreSQL.

Loads a synthetic catalogue (1,000,000 records with about 3,000,000 holdings by default) into
the database ``illfed_catalog_bench`` with COPY, then runs a mixed query set — keywords, CJK,
ISBN with and without hyphens, filtered and scoped searches, deeper pages, all with facets and
requestability for a patron — through ``GET /api/v1/search`` of the real catalogue app in this
process (``--via repository``: the repository's ``search`` alone, without HTTP and JSON), and
prints p50/p95 latency per kind and overall, the load time and the peak RSS of this process,
which is then a catalogue service that has served the searches.

    python -m bench.catalog.search_bench                      # 1,000,000 records, then drop
    python -m bench.catalog.search_bench --records 100000 --keep
    python -m bench.catalog.search_bench --reuse               # search an existing load again

Figures are printed, nothing is asserted: the target is p95 under 50 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass

import asyncpg
import httpx
from sqlalchemy import func, select, text

from deploy.queues import federation_queues
from libs.common.clock import SystemClock
from libs.common.db import drop_database, ensure_database, make_engine, pg_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.bulk_copy import copy_load
from services.catalog.adapters.search import search
from services.catalog.adapters.tables import metadata, records
from services.catalog.app import create_app
from services.catalog.domain.identifiers import isbn10
from services.catalog.domain.query import Patron, SearchQuery
from services.catalog.runtime import build_runtime
from services.catalog.seed import federation_members, synthetic_records

DATABASE = "illfed_catalog_bench"

KEYWORDS = [
    "hong kong",
    "macau",
    "history",
    "urban planning",
    "public health hong kong",
    "teacher education",
    "cantonese opera",
    "colonial administration macau",
    "film industry",
    "housing policy",
    "nursing practice",
    "maritime trade south china",
    "handbook",
    "postcolonial perspectives",
    "heritage conservation",
    "journal",
    "literatura de macau",
    "banking kowloon",
    "street markets",
    "elderly care",
    "rethinking translation",
    "tsang",
    "chan wai man",
    "da silva",
    "smith",
]
CJK = [
    "香港",
    "澳門",
    "歷史",
    "澳門文學",
    "香港歷史",
    "九龍教育",
    "粵劇",
    "港",
    "文學史",
    "嶺南建築",
    "大灣區金融",
    "珠江三角洲",
    "公共衞生",
    "陳志",
    "學報",
    "口述歷史",
]
LIBRARIES = ["cityu", "hkbu", "cuhk", "eduhk", "hku", "um", "mpu", "hkpl"]
PATRONS = [Patron("eduhk", "HKALL"), Patron("cuhk", "HKALL"), Patron("um", "MALA")]


@dataclass(frozen=True)
class Case:
    kind: str
    query: SearchQuery
    second_page: bool = False


def query_set(rng: random.Random, isbns: list[str], n: int) -> list[Case]:
    """A deterministic mix of ``n`` searches."""
    cases: list[Case] = []
    for i in range(n):
        patron = rng.choice(PATRONS)
        kind = ("keyword", "cjk", "isbn", "filtered", "scoped", "page2")[i % 6]
        if kind == "keyword":
            q = SearchQuery(text=rng.choice(KEYWORDS), patron=patron)
        elif kind == "cjk":
            q = SearchQuery(text=rng.choice(CJK), patron=patron)
        elif kind == "isbn":
            raw = rng.choice(isbns)
            form = rng.randrange(3)
            if form == 0:
                written = f"{raw[:3]}-{raw[3:6]}-{raw[6:9]}-{raw[9:12]}-{raw[12]}"
            elif form == 1:
                written = raw
            else:
                written = isbn10(raw) or raw
            q = SearchQuery(text=written, patron=patron)
        elif kind == "filtered":
            q = SearchQuery(
                text=rng.choice(KEYWORDS + CJK),
                material_types=rng.choice(((), ("book",), ("book", "book_with_disc"))),
                languages=rng.choice(((), ("eng",), ("chi",))),
                libraries=rng.choice(((), (rng.choice(LIBRARIES),))),
                available_now=rng.random() < 0.5,
                patron=patron,
            )
        elif kind == "scoped":
            q = SearchQuery(
                text=rng.choice(("", *KEYWORDS, *CJK)),
                scope=rng.choice(("library", "consortium")),
                available_now=rng.random() < 0.3,
                patron=patron,
            )
        else:
            q = SearchQuery(text=rng.choice(KEYWORDS + CJK), patron=patron)
        cases.append(Case(kind, q, second_page=kind == "page2"))
    return cases


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


async def load(url: str, count: int) -> float:
    await drop_database(url)
    await ensure_database(url)
    engine = make_engine(url)
    members = {lib.code: lib.consortium for lib in federation_members()}
    started = time.perf_counter()
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 100_000 < n:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>10,} records  {rate:,.0f} records/s", flush=True)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            report = await copy_load(conn, synthetic_records(count), members, progress=progress)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    print(f"loaded {report.created:,} records, {report.holdings:,} holdings in {elapsed:.1f} s")
    # VACUUM cannot run in a transaction; it sets the visibility map for the bitmap scans.
    u = await asyncpg.connect(host="127.0.0.1", user="postgres", database=url.rsplit("/", 1)[-1])
    try:
        t = time.perf_counter()
        await u.execute("VACUUM ANALYZE")
        print(f"vacuum analyze: {time.perf_counter() - t:.1f} s")
    finally:
        await u.close()
    return elapsed


def api_params(q: SearchQuery) -> dict[str, object]:
    """The ``GET /api/v1/search`` parameters of ``q``."""
    params: dict[str, object] = {"q": q.text, "scope": q.scope, "page_size": q.page_size}
    if q.material_types:
        params["material_type"] = list(q.material_types)
    if q.languages:
        params["language"] = list(q.languages)
    if q.libraries:
        params["library"] = list(q.libraries)
    if q.available_now:
        params["available_now"] = "true"
    if q.patron is not None:
        params["home_library"] = q.patron.home_library
    if q.cursor:
        params["cursor"] = q.cursor
    return params


class _Api:
    """The catalogue's real app in this process, called over ASGI: a search as a patron's
    browser asks it, JSON included, without the network."""

    def __init__(self, url: str) -> None:
        fed = default_federation()
        broker = MemoryBroker()
        broker.declare(federation_queues(fed))
        self.runtime = build_runtime(fed, url, broker.handle("catalog"), SystemClock())
        app = create_app(self.runtime, fed, DEV_SECRET)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://catalog.bench"
        )

    async def search(self, q: SearchQuery) -> tuple[str | None, int, bool]:
        res = await self.client.get("/api/v1/search", params=api_params(q))
        res.raise_for_status()
        doc = res.json()
        return doc["next_cursor"], doc["total"], doc["estimated"]

    async def close(self) -> None:
        await self.client.aclose()
        await self.runtime.engine.dispose()


async def run_queries(
    url: str, n_queries: int, seed: int, show_slowest: int = 0, via_api: bool = False
) -> dict[str, list[float]]:
    engine = make_engine(url, pool_size=2)
    api = _Api(url) if via_api else None
    timings: dict[str, list[float]] = defaultdict(list)
    try:
        async with engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(records))
            size = await conn.scalar(
                text("SELECT pg_size_pretty(pg_database_size(:d))"), {"d": url.rsplit("/", 1)[-1]}
            )
            print(f"catalogue: {total:,} records; database size {size}")
            rng = random.Random(seed)
            ids = [rng.randint(1, total) for _ in range(300)]
            rows = await conn.execute(select(records.c.isbns).where(records.c.id.in_(ids)))
            isbns = [r.isbns[0] for r in rows if r.isbns]
        cases = query_set(rng, isbns, n_queries)
        warmup = query_set(random.Random(seed + 1), isbns, 60)

        slowest: list[tuple[float, Case, int, bool]] = []

        async def once(q: SearchQuery) -> tuple[str | None, int, bool]:
            if api is not None:
                return await api.search(q)
            async with engine.connect() as conn:
                page = await search(conn, q)
            return page.next_cursor, page.total, page.estimated

        async def run(case: Case) -> tuple[float, int, bool]:
            t0 = time.perf_counter()
            next_cursor, total, estimated = await once(case.query)
            if case.second_page and next_cursor:
                t0 = time.perf_counter()
                q = case.query
                _, total, estimated = await once(
                    SearchQuery(text=q.text, patron=q.patron, cursor=next_cursor)
                )
            return (time.perf_counter() - t0) * 1000, total, estimated

        for case in warmup:
            await run(case)
        for case in cases:
            ms, found, estimated = await run(case)
            timings[case.kind].append(ms)
            timings["all"].append(ms)
            slowest.append((ms, case, found, estimated))
        if show_slowest:
            print("slowest searches:")
            for ms, case, found, estimated in sorted(slowest, key=lambda s: -s[0])[:show_slowest]:
                q = case.query
                print(
                    f"  {ms:6.1f} ms {case.kind:<8} {q.text!r} scope={q.scope} "
                    f"mt={q.material_types} lang={q.languages} lib={q.libraries} "
                    f"avail={q.available_now} -> {'~' if estimated else ''}{found}"
                )
    finally:
        if api is not None:
            await api.close()
        await engine.dispose()
    return timings


def report(timings: dict[str, list[float]]) -> None:
    print(f"{'kind':<10}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind in ("keyword", "cjk", "isbn", "filtered", "scoped", "page2", "all"):
        values = timings.get(kind)
        if not values:
            continue
        print(
            f"{kind:<10}{len(values):>6}{statistics.median(values):>10.1f}"
            f"{percentile(values, 95):>10.1f}{max(values):>10.1f}"
        )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench catalog", description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--label", default="", help="a note stored with the results")
    p.add_argument(
        "--database", default=DATABASE, help=f"the database to load (default {DATABASE})"
    )
    p.add_argument("--reuse", action="store_true", help="search the existing load")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--slowest", type=int, default=0, help="list the N slowest searches")
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="run the query set this many times in a row, each reported on its own "
        "(the target holds for every kind in each of three consecutive runs)",
    )
    p.add_argument(
        "--via",
        choices=("repository", "api"),
        default="api",
        help="search through GET /api/v1/search of the real app (default) or call the "
        "repository directly",
    )
    return p


async def run(args) -> dict:
    """Load (unless reusing), search, print the figures; they are also returned."""
    url = pg_url(args.database)
    load_s = None
    if not args.reuse:
        load_s = await load(url, args.records)
    runs: list[dict[str, list[float]]] = []
    try:
        print(f"searching through the {'HTTP API' if args.via == 'api' else 'repository'}")
        for n in range(args.runs):
            if args.runs > 1:
                print(f"run {n + 1} of {args.runs}")
            timings = await run_queries(
                url, args.queries, args.seed, args.slowest, via_api=args.via == "api"
            )
            report(timings)
            runs.append(timings)
        now = current_rss_mb()
        after = f"; {now:.0f} MB after the searches" if now is not None else ""
        # With --via api this process is a catalogue service that has just served the searches.
        print(f"peak RSS of this process: {peak_rss_mb():.0f} MB{after}")
    finally:
        if not args.keep and not args.reuse:
            await drop_database(url)
    out = {
        "records": args.records,
        "load_s": load_s,
        "records_per_s": args.records / load_s if load_s else None,
        "p50_ms": {k: statistics.median(v) for k, v in timings.items()},
        "p95_ms": {k: percentile(v, 95) for k, v in timings.items()},
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.runs > 1:
        out["runs_p95_ms"] = [{k: percentile(v, 95) for k, v in t.items()} for t in runs]
        worst = {k: max(r[k] for r in out["runs_p95_ms"]) for k in out["p95_ms"]}
        out["worst_run_p95_ms"] = worst
        print("worst p95 of the runs: " + ", ".join(f"{k} {v:.1f}" for k, v in worst.items()))
    return out


async def main() -> None:
    from bench.hop.hop_bench import record

    args = parser().parse_args()
    record({"catalog": await run(args)}, bench="catalog", label=args.label)


if __name__ == "__main__":
    asyncio.run(main())
