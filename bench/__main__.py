"""Run the benchmarks (``make bench``) and print their figures; nothing asserts on time.

    python -m bench                                # every benchmark, at full size
    python -m bench catalog                        # one of them
    python -m bench catalog --records 100000 --keep  # one, with its own options (--help)

``catalog``: the union catalogue's search on PostgreSQL, 1,000,000 records with about
3,000,000 holdings (``bench.catalog.search_bench``). Every benchmark runs against the servers
on 127.0.0.1 and cleans up after itself unless told to keep its data.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

BENCHMARKS = {"catalog": "bench.catalog.search_bench", "hop": "bench.hop.hop_bench"}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] in BENCHMARKS:
        chosen, options = [argv[0]], argv[1:]
    elif argv:
        print(f"unknown benchmark {argv[0]!r}; one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    else:
        chosen, options = list(BENCHMARKS), []
    for name in chosen:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"== {name} ({BENCHMARKS[name]})", flush=True)
        # Each benchmark reads its own options from the command line.
        sys.argv = [f"python -m bench {name}", *options]
        asyncio.run(module.main())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
