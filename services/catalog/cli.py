"""Loading the union catalogue from the command line.

    python -m services.catalog.cli load FILE --format json|marc|marcxml --db URL
    python -m services.catalog.cli synth --records N --db URL
    python -m services.catalog.cli seed --db URL
    python -m services.catalog.cli cluster --db URL

``load`` reads JSON (an array of records, or one record per line: see
``domain.intake``), MARC21 or MARCXML (see ``adapters.marc``), shows a progress bar, commits
every batch, and ends with a summary: records created, merged into an existing record,
holdings written, and each rejected record with its reason. Exit status: 0 when every record
loaded, 1 when some were rejected, 2 when the load could not run.

``synth`` makes up N records (about three holdings each) for benchmarks; on an empty
PostgreSQL catalogue it loads them with COPY. ``seed`` loads the demo catalogue unless the
catalogue has records already. ``cluster`` stores PostgreSQL's search rows in rank order again
after big loads. ``--create-tables`` creates the database and the tables first (for scratch
databases; deployments migrate).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.db import ensure_database, make_engine
from services.catalog.adapters.bulk_copy import cluster, copy_load
from services.catalog.adapters.loading import load_results
from services.catalog.adapters.marc import read_marc, read_marcxml
from services.catalog.adapters.tables import metadata, records
from services.catalog.domain.intake import read_json
from services.catalog.domain.model import BibRecord, Rejection
from services.catalog.domain.views import LoadReport
from services.catalog.seed import federation_members, seed_demo, synthetic_records

console = Console()
SHOWN_REJECTIONS = 50


def _read(path: Path, fmt: str) -> tuple[Iterator[BibRecord | Rejection], int]:
    """The records of ``path`` and how many there are (for the progress bar)."""
    if fmt == "json":
        results = read_json(path.read_text(encoding="utf-8"))
        return iter(results), len(results)
    data = path.read_bytes()
    if fmt == "marc":
        return read_marc(data), data.count(b"\x1d")
    return read_marcxml(data), len(re.findall(rb"<(?:\w+:)?record[\s>]", data))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


async def _prepare(url: str, create_tables: bool) -> AsyncEngine:
    if create_tables:
        await ensure_database(url)
    engine = make_engine(url)
    if create_tables:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    return engine


async def _load_stream(
    engine: AsyncEngine,
    stream: Iterable[BibRecord | Rejection],
    total: int | None,
    batch_size: int,
    label: str,
) -> LoadReport:
    report = LoadReport()
    members = {lib.code: lib.consortium for lib in federation_members()}
    source = iter(stream)
    with _progress() as progress:
        task = progress.add_task(label, total=total)
        while batch := list(islice(source, batch_size)):
            async with engine.begin() as conn:
                report.add(await load_results(conn, batch, members=members))
            progress.advance(task, len(batch))
    return report


def _summary(report: LoadReport) -> None:
    table = Table(title="catalogue load", show_header=False)
    table.add_row("records created", f"{report.created:,}")
    table.add_row("merged into an existing record", f"{report.merged:,}")
    table.add_row("holdings written", f"{report.holdings:,}")
    table.add_row("records rejected", f"{len(report.rejected):,}")
    console.print(table)
    if report.rejected:
        rejected = Table(title="rejected records")
        rejected.add_column("#", justify="right")
        rejected.add_column("id")
        rejected.add_column("reason")
        for r in sorted(report.rejected, key=lambda r: r.index)[:SHOWN_REJECTIONS]:
            rejected.add_row(str(r.index), r.source_id or "", r.reason)
        console.print(rejected)
        if len(report.rejected) > SHOWN_REJECTIONS:
            console.print(f"... and {len(report.rejected) - SHOWN_REJECTIONS:,} more")


async def _cmd_load(
    args: argparse.Namespace, stream: Iterable[BibRecord | Rejection], total: int
) -> int:
    engine = await _prepare(args.db, args.create_tables)
    try:
        name = Path(args.file).name
        report = await _load_stream(engine, stream, total, args.batch, f"loading {name}")
    finally:
        await engine.dispose()
    _summary(report)
    return 1 if report.rejected else 0


async def _cmd_synth(args: argparse.Namespace) -> int:
    engine = await _prepare(args.db, args.create_tables)
    members = {lib.code: lib.consortium for lib in federation_members()}
    stream = synthetic_records(args.records, seed=args.seed)
    try:
        async with engine.connect() as conn:
            empty = not await conn.scalar(select(func.count()).select_from(records))
        if engine.dialect.name == "postgresql" and empty:
            with _progress() as progress:
                task = progress.add_task("synthetic catalogue (COPY)", total=args.records)
                async with engine.begin() as conn:
                    report = await copy_load(
                        conn, stream, members, progress=lambda n: progress.advance(task, n)
                    )
        else:
            report = await _load_stream(
                engine, stream, args.records, args.batch, "synthetic catalogue"
            )
    finally:
        await engine.dispose()
    _summary(report)
    return 0


async def _cmd_seed(args: argparse.Namespace) -> int:
    engine = await _prepare(args.db, args.create_tables)
    try:
        async with engine.begin() as conn:
            report = await seed_demo(conn)
    finally:
        await engine.dispose()
    if report is None:
        console.print("the catalogue has records already: nothing seeded")
        return 0
    _summary(report)
    return 0


async def _cmd_cluster(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    try:
        if engine.dialect.name != "postgresql":
            console.print("cluster is for PostgreSQL; nothing to do")
            return 0
        async with engine.begin() as conn:
            await cluster(conn)
    finally:
        await engine.dispose()
    console.print("search rows stored in rank order")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.catalog.cli", description=__doc__)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, create: bool = True) -> None:
        sp.add_argument(
            "--db",
            required=True,
            help="database URL (postgresql+asyncpg://... or sqlite+aiosqlite:///path)",
        )
        if create:
            sp.add_argument(
                "--create-tables", action="store_true", help="create the database and tables first"
            )

    load = sub.add_parser("load", help="load records from a file")
    load.add_argument("file")
    load.add_argument("--format", required=True, choices=("json", "marc", "marcxml"))
    load.add_argument("--batch", type=int, default=500, help="records per transaction")
    common(load)
    synth = sub.add_parser("synth", help="make up a large catalogue for benchmarks")
    synth.add_argument("--records", type=int, required=True)
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--batch", type=int, default=2000)
    common(synth)
    common(sub.add_parser("seed", help="load the demo catalogue once"))
    common(
        sub.add_parser("cluster", help="store search rows in rank order (PostgreSQL)"), create=False
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "load":
        path = Path(args.file)
        if not path.is_file():
            console.print(f"[red]no such file: {path}")
            return 2
        try:
            stream, total = _read(path, args.format)
        except (ValueError, UnicodeDecodeError) as exc:
            console.print(f"[red]cannot read {path}: {exc}")
            return 2
        return asyncio.run(_cmd_load(args, stream, total))
    command = {"synth": _cmd_synth, "seed": _cmd_seed, "cluster": _cmd_cluster}[args.command]
    return asyncio.run(command(args))


if __name__ == "__main__":
    sys.exit(main())
