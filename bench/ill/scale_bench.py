"""Routing with many member libraries: request → the first lender asked, with 8, 50 and 200
members in a generated federation file and catalogue.

For each size: a federation of that many HKALL members (:mod:`bench.ill.federation`) with a
synthetic union catalogue held by them (COPY-loaded, about three holdings a record, mostly
AVAILABLE), the catalogue, the broker and one requesting library running, each its own
process. Staff at the requester ask for titles it does not hold, one request at a time;
the routing latency is from the POST until the broker's transaction shows its first lender
asked (``lenders_tried[0].asked_at``), read every few milliseconds. The lenders' processes are
not started: routing ends at the broker's ask. Printed per size: routing p50/p95, the
broker's own part (it heard the request → it asked), the broker's peak RSS and CPU per
request.

Every member holds copies in the generated catalogue (the records' holders spread over all of
them), so with 200 members most records are held by libraries numbered beyond the 63 bits of
``record_search.libs``.

    python -m bench scale                      # 8, 50 and 200 members, 40 requests each
    python -m bench scale --sizes 8,200 --requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from bench.hop import hop_bench
from bench.hop.measure import CpuMeter, peak_rss_mb, percentile, rss_mb
from bench.ill import federation
from deploy.tour import Tour
from libs.common.db import make_engine
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.bulk_copy import copy_load
from services.catalog.seed import LibraryInfo, synthetic_records

REQUESTER = "l000"
PATRON_REQUESTS = 5  # HKALL-08 lets a student hold 15; each patron asks for a few titles


def members(n: int) -> list[tuple[str, str]]:
    return [(f"l{i:03d}", "HKALL") for i in range(n)]


def _catalogue_loader(n: int, records: int):
    holders = [
        LibraryInfo(code, consortium, (federation.SERVICE_POINT,))
        for code, consortium in members(n)
    ]

    async def load(bf: federation.BenchFederation) -> None:
        engine = make_engine(bf.db["catalog"])
        try:
            async with engine.begin() as conn:
                await copy_load(
                    conn,
                    synthetic_records(records, libraries=holders),
                    {lib.code: lib.consortium for lib in holders},
                )
        finally:
            await engine.dispose()

    return load


async def _wanted(bf: federation.BenchFederation, count: int) -> list[int]:
    """Books the requester does not hold, with AVAILABLE copies at two libraries or more."""
    db = bf.db["catalog"].rsplit("/", 1)[-1]
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=db)
    try:
        rows = await conn.fetch(
            """SELECT h.record_id FROM holdings h JOIN records r ON r.id = h.record_id
               WHERE r.material_type = 'book' GROUP BY h.record_id
               HAVING count(*) FILTER (WHERE h.status = 'AVAILABLE') >= 2
                  AND count(*) FILTER (WHERE h.library = $1) = 0
               ORDER BY h.record_id LIMIT $2""",
            REQUESTER,
            count,
        )
    finally:
        await conn.close()
    return [r["record_id"] for r in rows]


async def _one_size(n: int, args) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"illfed-bench-scale-{n}-") as tmp:
        t0 = time.monotonic()
        bf = await federation.start(
            Path(tmp),
            members(n),
            [REQUESTER],
            services=("catalog", "requests"),
            before_start=_catalogue_loader(n, args.records),
        )
        print(f"scale {n}: ready in {time.monotonic() - t0:.0f} s", flush=True)
        try:
            return await _measure(bf, n, args)
        except BaseException:
            for unit in bf.units.values():
                print(f"--- {unit.key} log:\n{unit.tail()}")
            raise
        finally:
            await federation.stop(bf)


async def _measure(bf: federation.BenchFederation, n: int, args) -> dict:
    records = await _wanted(bf, args.requests + args.warmup)
    if len(records) < args.requests + args.warmup:
        raise RuntimeError(f"only {len(records)} titles to request in the generated catalogue")
    async with httpx.AsyncClient(timeout=30.0) as http:
        tour = Tour(bf.fed, DEV_SECRET, http)
        home = await tour.library(REQUESTER)
        db = await asyncpg.connect(
            host="127.0.0.1", user="postgres", database=bf.db["requests"].rsplit("/", 1)[-1]
        )
        auth = {"Authorization": f"Bearer {home.token}"}
        patrons = []
        for i in range(-(-len(records) // PATRON_REQUESTS)):
            res = await http.post(
                f"{home.url}/api/v1/patrons",
                json={
                    "category": "student",
                    "name_en": f"Scale Student {i}",
                    "date_of_birth": "2003-05-01",
                    "address": {"lines": [f"Hall {i}"], "district": "Campus"},
                    "email": f"student{i}@{REQUESTER}.example.edu",
                    "card_number": f"S{n:03d}{i:05d}",
                },
                headers=auth,
            )
            res.raise_for_status()
            patrons.append(res.json()["patron"]["patron_id"])
        pid = bf.units["requests"].pid
        assert pid is not None
        meter = CpuMeter()
        routed_ms: list[float] = []
        broker_ms: list[float] = []
        for k, record_id in enumerate(records):
            if k == args.warmup:
                meter.start({"broker": [pid]})
            sent = time.time()
            res = await http.post(
                f"{home.url}/api/v1/ill/borrowing",
                json={
                    "patron_id": patrons[k // PATRON_REQUESTS],
                    "record_id": record_id,
                    "pickup_location": federation.SERVICE_POINT,
                },
                headers=auth,
            )
            if res.status_code != 201:
                raise RuntimeError(f"request refused: {res.status_code} {res.text}")
            txn = res.json()["transaction_id"]
            # Read from the broker's database, not its API, so that looking costs the broker
            # nothing.
            deadline = time.monotonic() + 30
            while True:
                row = await db.fetchrow(
                    "SELECT created_at, lenders_tried FROM ill_transactions WHERE id = $1", txn
                )
                tried = json.loads(row["lenders_tried"]) if row is not None else []
                if tried:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{txn} was not routed in 30 s")
                await asyncio.sleep(args.poll)
            asked = datetime.fromisoformat(tried[0]["asked_at"]).timestamp()
            heard = row["created_at"].timestamp()
            if k >= args.warmup:
                routed_ms.append((asked - sent) * 1000)
                broker_ms.append((asked - heard) * 1000)
        cpu = meter.stop({"broker": [pid]})["broker"]
        await db.close()
    return {
        "members": n,
        "requests": args.requests,
        "routing_p50_ms": percentile(routed_ms, 50),
        "routing_p95_ms": percentile(routed_ms, 95),
        "broker_part_p50_ms": percentile(broker_ms, 50),
        "broker_cpu_ms_per_request": 1000 * cpu / args.requests,
        "broker_peak_rss_mb": peak_rss_mb(pid),
        "broker_rss_mb": rss_mb(pid),
        "catalogue_records": args.records,
    }


def rows(results: list[dict]) -> list[tuple[str, float | None, float | None, str]]:
    out: list[tuple[str, float | None, float | None, str]] = []
    done = [r for r in results if not r.get("timed_out")]
    first = done[0] if done else None
    for r in done:
        n = r["members"]
        ratio = ""
        if first is not None and r is not first and first["routing_p50_ms"]:
            ratio = f"{r['routing_p50_ms'] / first['routing_p50_ms']:.2f}x"
        out.append((f"routing p50 ms, {n} libraries", None, r["routing_p50_ms"], ratio))
        out.append((f"routing p95 ms, {n} libraries", None, r["routing_p95_ms"], ""))
        out.append((f"broker peak RSS MB, {n} libraries", None, r["broker_peak_rss_mb"], ""))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", default="8,50,200", help="member libraries (default 8,50,200)")
    p.add_argument("--requests", type=int, default=40, help="requests measured per size")
    p.add_argument("--warmup", type=int, default=5, help="requests before measuring")
    p.add_argument("--records", type=int, default=20_000, help="records in the catalogue")
    p.add_argument("--poll", type=float, default=0.005, help="seconds between looks")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds one size may take in all")
    p.add_argument("--label", default="", help="a note stored with the results")
    return p


async def run(args) -> list[dict]:
    out = []
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        try:
            r = await asyncio.wait_for(_one_size(n, args), args.timeout)
        except TimeoutError:
            # Setting up the broker for hundreds of members can wait on RabbitMQ's
            # definitions import while others use the server: reported, not hung on.
            print(f"scale {n}: did not finish in {args.timeout:.0f} s", flush=True)
            out.append({"members": n, "timed_out": True})
            continue
        print(
            f"scale {n}: routing p50 {r['routing_p50_ms']:.0f} ms, p95 "
            f"{r['routing_p95_ms']:.0f} ms; broker part p50 {r['broker_part_p50_ms']:.0f} ms; "
            f"broker {r['broker_cpu_ms_per_request']:.1f} CPU ms/request, peak RSS "
            f"{r['broker_peak_rss_mb']:.0f} MB",
            flush=True,
        )
        out.append(r)
    return out


async def main() -> None:
    args = parser().parse_args()
    results = await run(args)
    hop_bench.print_table(rows(results))
    hop_bench.record({"scale": results}, bench="scale", label=args.label)
    print(f"results appended to {hop_bench.RESULTS.relative_to(hop_bench.ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
