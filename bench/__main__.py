"""Run the benchmarks and print their figures; nothing asserts on time.

    python -m bench                      # the short suite (make bench), under 10 minutes
    python -m bench --label "after X"    # the same, with a note stored with its results
    python -m bench hop --help           # the hop at full length, and its options
    python -m bench catalog --help       # the catalogue at 1,000,000 records, and its options
    python -m bench ill --help           # whole ILL loans in the distributed way
    python -m bench scale --help         # routing with 8, 50 and 200 member libraries
    python -m bench memory --help        # the embedded process with the whole federation

The short suite runs, in this order: the hop's floor and illfed's hop (``bench.hop.hop_bench``:
a library's item status change through its outbox, RabbitMQ and the catalogue's consumer,
against the same hop with nothing but asyncpg and aio-pika, in the same run); the union
catalogue's search at 10,000 records (``bench.catalog.search_bench``); 32 whole ILL loans in
the distributed way, against the floor's hops/s measured just before and just after them
(``bench.ill.lifecycle_bench``);
routing with 8, 50 and 200 member libraries (``bench.ill.scale_bench``); the embedded
process's memory with the whole federation (``bench.ill.memory_bench``). Then it prints one
table: figure, floor, illfed, ratio. Every run appends its results as one JSON line to
bench/results/results.jsonl, so two runs can be compared. Every benchmark runs against the
servers on 127.0.0.1 and removes what it made unless told to keep it; the federations it
starts listen on ports 20000-20999.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

BENCHMARKS = {
    "catalog": "bench.catalog.search_bench",
    "hop": "bench.hop.hop_bench",
    "ill": "bench.ill.lifecycle_bench",
    "scale": "bench.ill.scale_bench",
    "memory": "bench.ill.memory_bench",
}
SHORT_HOP = ["--seconds", "8", "--warmup", "2", "--lone", "60"]
SHORT_CATALOG = ["--records", "10000", "--queries", "120"]
SHORT_CATALOG += ["--database", "illfed_catalog_bench_short"]
SHORT_ILL = ["--loans", "32", "--concurrency", "16"]
SHORT_SCALE = ["--sizes", "8,50,200", "--requests", "15", "--warmup", "3", "--records", "5000"]
SHORT_MEMORY = ["--loans", "8", "--concurrency", "4"]
KINDS = ("keyword", "cjk", "isbn", "filtered", "scoped", "page2")


async def short_suite(label: str) -> None:
    from bench.catalog import search_bench
    from bench.hop import hop_bench
    from bench.ill import lifecycle_bench, memory_bench, scale_bench

    hop_args = hop_bench.parser().parse_args(SHORT_HOP)
    print("== hop: the floor and illfed's hop", flush=True)
    hop = await hop_bench.run(hop_args)
    print("== catalog: search at 10,000 records", flush=True)
    catalog = await search_bench.run(search_bench.parser().parse_args(SHORT_CATALOG))
    table = hop_bench.rows(hop, hop_args.clients)
    records = catalog["records"]
    table.append((f"catalogue {records:,}: load records/s", None, catalog["records_per_s"], ""))
    if "all" in catalog["p50_ms"]:
        table.append(
            (f"catalogue {records:,}: search p50 ms, all", None, catalog["p50_ms"]["all"], "")
        )
    for kind in (*KINDS, "all"):
        if kind in catalog["p95_ms"]:
            p95 = catalog["p95_ms"][kind]
            table.append((f"catalogue {records:,}: search p95 ms, {kind}", None, p95, ""))
    table.append((f"catalogue {records:,}: peak RSS MB", None, catalog["peak_rss_mb"], ""))
    print("== ill: whole loans in the distributed way", flush=True)
    # Its floor is measured again, just before and just after the loans: the hop's, minutes
    # earlier, was measured on a machine that may have been faster or slower then.
    ill = await lifecycle_bench.run(lifecycle_bench.parser().parse_args(SHORT_ILL))
    table += lifecycle_bench.rows(ill)
    print("== scale: routing with 8, 50 and 200 member libraries", flush=True)
    scale = await scale_bench.run(scale_bench.parser().parse_args(SHORT_SCALE))
    table += scale_bench.rows(scale)
    print("== memory: the embedded federation", flush=True)
    memory = await memory_bench.run(memory_bench.parser().parse_args(SHORT_MEMORY))
    table += memory_bench.rows(memory)
    print()
    hop_bench.print_table(table)
    results = {"hop": hop, "catalog": catalog, "ill": ill, "scale": scale, "memory": memory}
    hop_bench.record(results, bench="short", label=label)
    print(f"results appended to {hop_bench.RESULTS.relative_to(hop_bench.ROOT)}")


def main(argv: list[str]) -> int:
    if argv and argv[0] in BENCHMARKS:
        module = importlib.import_module(BENCHMARKS[argv[0]])
        # Each benchmark reads its own options from the command line.
        sys.argv = [f"python -m bench {argv[0]}", *argv[1:]]
        asyncio.run(module.main())
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--label", default="", help="a note stored with the results")
    args = parser.parse_args(argv)
    asyncio.run(short_suite(args.label))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
