"""Routing with many member libraries: request → the first lender asked, with 8, 50 and 200
members in a generated federation file and catalogue.

For each size: a federation of that many HKALL members (:mod:`bench.ill.federation`) with a
synthetic union catalogue held by them (COPY-loaded, about three holdings a record, mostly
AVAILABLE), the catalogue, the broker and one requesting library running, each its own
process. Staff at the requester ask for titles it does not hold, one request at a time;
the routing latency is from the POST until the broker's transaction shows its first lender
asked (``lenders_tried[0].asked_at``), read every few milliseconds. The lenders' processes are
not started: routing ends at the broker's ask. Printed per size: routing p50/p95, the
broker's own part (it heard the request → it asked), the broker's peak RSS and its CPU per
request (used during that size's own requests).

Every size is set up first, and all run at once; then they are measured in turns, one
request of each size after the other, so that other work on the machine weighs on every size
alike and the ratio between sizes says what the number of members costs.

RabbitMQ's file-handle budget is checked first (:mod:`bench.ill.broker_room`): 200 members'
quorum queues need about twice the budget a broker started with 1,024 open files has; it is
raised for the run when the node may open that many, and a size that cannot fit is skipped
with the reason instead of stalling its set-up.

Every member holds copies in the generated catalogue (the records' holders spread over all of
them), so with 200 members most records are held by libraries numbered beyond the 63 bits of
``record_search.libs``.

    python -m bench scale                      # 8, 50 and 200 members, 40 requests each
    python -m bench scale --sizes 8,200 --requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from bench.hop import hop_bench
from bench.hop.measure import cpu_seconds, peak_rss_mb, percentile, rss_mb
from bench.ill import broker_room, federation
from deploy.queues import federation_queues
from deploy.tour import Tour
from libs.common.db import make_engine
from libs.common.federation import load_federation
from libs.common.messaging.topology import topology
from libs.common.settings import DEV_SECRET
from services.catalog.adapters.bulk_copy import copy_load
from services.catalog.seed import LibraryInfo, synthetic_records

REQUESTER = "l000"
PORT_UNUSED = 1  # ports of a federation file only counted, never started
PATRON_REQUESTS = 5  # HKALL-08 lets a student hold 15; each patron asks for a few titles


def members(n: int) -> list[tuple[str, str]]:
    return [(f"l{i:03d}", "HKALL") for i in range(n)]


def queues(n: int) -> int:
    """The queues a federation of ``n`` members declares on the broker."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "federation.toml"
        path.write_text(federation.federation_toml(members(n), itertools.count(PORT_UNUSED)))
        return len(topology(federation_queues(load_federation(path))).queues)


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


@dataclass
class _Size:
    """One federation size, set up and measured: its own figures, gathered turn by turn."""

    n: int
    bf: federation.BenchFederation
    records: list[int]
    home_url: str
    auth: dict[str, str]
    patrons: list[str]
    db: asyncpg.Connection
    broker_pid: int
    routed_ms: list[float] = field(default_factory=list)
    broker_ms: list[float] = field(default_factory=list)
    broker_cpu_s: float = 0.0


async def _prepare(n: int, args, http: httpx.AsyncClient, stack: AsyncExitStack) -> _Size:
    """The federation of ``n`` members started, its titles to request found and its patrons
    registered; ``stack`` stops it and removes its folder."""
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"illfed-bench-scale-{n}-"))
    t0 = time.monotonic()
    bf = await federation.start(
        Path(tmp),
        members(n),
        [REQUESTER],
        services=("catalog", "requests"),
        before_start=_catalogue_loader(n, args.records),
    )
    stack.push_async_callback(federation.stop, bf)
    print(f"scale {n}: ready in {time.monotonic() - t0:.0f} s", flush=True)
    records = await _wanted(bf, args.requests + args.warmup)
    if len(records) < args.requests + args.warmup:
        raise RuntimeError(f"only {len(records)} titles to request in the generated catalogue")
    home = await Tour(bf.fed, DEV_SECRET, http).library(REQUESTER)
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
    db = await asyncpg.connect(
        host="127.0.0.1", user="postgres", database=bf.db["requests"].rsplit("/", 1)[-1]
    )
    stack.push_async_callback(db.close)
    pid = bf.units["requests"].pid
    assert pid is not None
    return _Size(n, bf, records, home.url, auth, patrons, db, pid)


async def _request(size: _Size, k: int, args, http: httpx.AsyncClient) -> None:
    """The ``k``-th request of ``size``, until its broker asks the first lender; measured
    once the warm-up is over."""
    cpu_before = cpu_seconds(size.broker_pid) or 0.0
    sent = time.time()
    res = await http.post(
        f"{size.home_url}/api/v1/ill/borrowing",
        json={
            "patron_id": size.patrons[k // PATRON_REQUESTS],
            "record_id": size.records[k],
            "pickup_location": federation.SERVICE_POINT,
        },
        headers=size.auth,
    )
    if res.status_code != 201:
        raise RuntimeError(f"request refused: {res.status_code} {res.text}")
    txn = res.json()["transaction_id"]
    # Read from the broker's database, not its API, so that looking costs the broker nothing.
    deadline = time.monotonic() + 30
    while True:
        row = await size.db.fetchrow(
            "SELECT created_at, lenders_tried FROM ill_transactions WHERE id = $1", txn
        )
        tried = json.loads(row["lenders_tried"]) if row is not None else []
        if tried:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{txn} was not routed in 30 s")
        await asyncio.sleep(args.poll)
    if k < args.warmup:
        return
    asked = datetime.fromisoformat(tried[0]["asked_at"]).timestamp()
    size.routed_ms.append((asked - sent) * 1000)
    size.broker_ms.append((asked - row["created_at"].timestamp()) * 1000)
    size.broker_cpu_s += (cpu_seconds(size.broker_pid) or 0.0) - cpu_before


def _figures(size: _Size, args) -> dict:
    return {
        "members": size.n,
        "requests": args.requests,
        "routing_p50_ms": percentile(size.routed_ms, 50),
        "routing_p95_ms": percentile(size.routed_ms, 95),
        "broker_part_p50_ms": percentile(size.broker_ms, 50),
        "broker_cpu_ms_per_request": 1000 * size.broker_cpu_s / args.requests,
        "broker_peak_rss_mb": peak_rss_mb(size.broker_pid),
        "broker_rss_mb": rss_mb(size.broker_pid),
        "catalogue_records": args.records,
    }


def rows(results: list[dict]) -> list[tuple[str, float | None, float | None, str]]:
    out: list[tuple[str, float | None, float | None, str]] = []
    done = [r for r in results if "routing_p50_ms" in r]
    first = done[0] if done else None
    for r in done:
        n = r["members"]
        ratio = ""
        if first is not None and r is not first and first["routing_p50_ms"]:
            ratio = f"{r['routing_p50_ms'] / first['routing_p50_ms']:.2f}x"
        out.append((f"routing p50 ms, {n} libraries", None, r["routing_p50_ms"], ratio))
        out.append((f"routing p95 ms, {n} libraries", None, r["routing_p95_ms"], ""))
        out.append((f"broker peak RSS MB, {n} libraries", None, r["broker_peak_rss_mb"], ""))
    for r in results:
        if "routing_p50_ms" not in r:
            why = "skipped" if r.get("skipped") else "no set-up"
            out.append((f"routing p50 ms, {r['members']} libraries", None, None, why))
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
    p.add_argument(
        "--timeout", type=float, default=240.0, help="seconds one size's set-up may take"
    )
    p.add_argument("--label", default="", help="a note stored with the results")
    return p


async def run(args) -> list[dict]:
    """Every size set up, then measured turn by turn: one request of each size in turn, so
    that whatever else loads the machine meanwhile weighs on every size alike and the ratios
    between sizes hold."""
    wanted = [int(s) for s in args.sizes.split(",") if s.strip()]
    out: dict[int, dict] = {}
    sizes: list[_Size] = []
    async with AsyncExitStack() as stack:
        # Entered first, so left last: the budget goes back once every size is removed.
        room = await stack.enter_async_context(
            broker_room.handles_for(sum(queues(n) for n in wanted))
        )
        print(f"scale: RabbitMQ {room.note}", flush=True)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0))
        taken = 0
        for n in wanted:
            if not room.fits(taken + queues(n)):
                # It would not fail, it would wait: RabbitMQ holds a declaration past its
                # budget until handles come free.
                print(
                    f"scale {n}: skipped, its {queues(n)} quorum queues do not fit RabbitMQ's "
                    f"file-handle budget ({room.limit}, {room.used} in use); give the broker "
                    "a larger open-files limit",
                    flush=True,
                )
                out[n] = {"members": n, "skipped": "RabbitMQ file-handle budget"}
                continue
            taken += queues(n)
            try:
                sizes.append(await asyncio.wait_for(_prepare(n, args, http, stack), args.timeout))
            except TimeoutError:
                # Setting up the broker for hundreds of members can wait on RabbitMQ while
                # others use the server: reported, not hung on.
                print(f"scale {n}: not set up in {args.timeout:.0f} s", flush=True)
                out[n] = {"members": n, "timed_out": True}
        try:
            for k in range(args.warmup + args.requests):
                for size in sizes:
                    await _request(size, k, args, http)
        except BaseException:
            for size in sizes:
                for unit in size.bf.units.values():
                    print(f"--- scale {size.n}, {unit.key} log:\n{unit.tail()}")
            raise
        for size in sizes:
            r = out[size.n] = _figures(size, args)
            print(
                f"scale {size.n}: routing p50 {r['routing_p50_ms']:.0f} ms, p95 "
                f"{r['routing_p95_ms']:.0f} ms; broker part p50 {r['broker_part_p50_ms']:.0f} "
                f"ms; broker {r['broker_cpu_ms_per_request']:.1f} CPU ms/request, peak RSS "
                f"{r['broker_peak_rss_mb']:.0f} MB",
                flush=True,
            )
    return [out[n] for n in wanted]


async def main() -> None:
    args = parser().parse_args()
    results = await run(args)
    hop_bench.print_table(rows(results))
    hop_bench.record({"scale": results}, bench="scale", label=args.label)
    print(f"results appended to {hop_bench.RESULTS.relative_to(hop_bench.ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
