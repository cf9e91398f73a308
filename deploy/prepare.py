"""Preparing the distributed federation, as `make up` shows it: the servers checked first (with
what to start when one is not running), then databases and migrations, broker users and
topology, and the demo seed, in parallel where they do not depend on each other, each step on
screen with how far it got."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from yarl import URL

from deploy.units import Unit
from libs.common.db import PG_HOST

PG_HINT = (
    "PostgreSQL is not running on {where} ({why}).\n"
    "  Start it:  sudo service postgresql start\n"
    "  (make up uses the local server, user postgres, trust authentication on 127.0.0.1.)"
)
RABBIT_HINT = (
    "RabbitMQ is not running on {where} ({why}).\n"
    "  Start it:  sudo service rabbitmq-server start\n"
    "  (make up logs in as guest/guest from 127.0.0.1 and sets up users with rabbitmqctl.)"
)
CTL_HINT = (
    "rabbitmqctl is not on PATH: make up sets up the broker's users with it.\n"
    "  Install RabbitMQ on this machine:  sudo apt-get install rabbitmq-server"
)

# Alembic keeps its migration context in module state: one database at a time per process.
# In this process, that is quickest: after the first database of a service (which pays for
# importing its code) each takes a second or so, less than a worker process takes to start.
MIGRATED = "migrated "


class Steps:
    """One line per preparation step: a live bar on a terminal, a line per finished step in a
    log or a pipe (where redrawing would only repeat itself)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description:<34}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
        )
        self._started: dict[TaskID, float] = {}

    def __enter__(self) -> Steps:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def add(self, description: str, total: int) -> TaskID:
        task = self._progress.add_task(description, total=total)
        self._started[task] = time.monotonic()
        if not self.live:
            self.console.print(f"  … {description}", highlight=False)
        return task

    def advance(self, task: TaskID) -> None:
        self._progress.advance(task)
        t = self._progress.tasks[task]
        if t.finished and not self.live:
            took = time.monotonic() - self._started[task]
            self.console.print(f"  ✓ {t.description} ({t.total:.0f}, {took:.1f} s)")

    async def track(self, description: str, work: Iterable[Awaitable], limit: int = 0) -> None:
        """Run ``work`` (at most ``limit`` at once when given), advancing one step each."""
        work = list(work)
        task = self.add(description, len(work))
        gate = asyncio.Semaphore(limit or len(work) or 1)

        async def one(aw: Awaitable) -> None:
            async with gate:
                await aw
            self.advance(task)

        await asyncio.gather(*(one(aw) for aw in work))


async def check_servers(pg_host: str = PG_HOST, admin_url: str = "", pg_port: int = 5432) -> None:
    """Fail fast, with the command to run, when PostgreSQL or RabbitMQ is not there."""
    import shutil

    import aio_pika
    import asyncpg

    problems = []
    try:
        conn = await asyncpg.connect(
            host=pg_host, port=pg_port, user="postgres", database="postgres", timeout=5
        )
        await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        problems.append(PG_HINT.format(where=f"{pg_host}:{pg_port}", why=_why(exc)))
    url = URL(admin_url)
    # A broker that is there but busy (deleting a large virtual host, say) answers late: it
    # is given three tries of 10 s before it is called away.
    for attempt in range(3):
        try:
            conn = await aio_pika.connect(str(url.with_path("/")), timeout=10)
            await conn.close()
            break
        except Exception as exc:  # aio-pika raises several kinds for a broker not there
            if attempt == 2 or not isinstance(exc, TimeoutError):
                problems.append(RABBIT_HINT.format(where=f"{url.host}:{url.port}", why=_why(exc)))
                break
    if not problems and shutil.which("rabbitmqctl") is None:
        problems.append(CTL_HINT)
    if problems:
        raise SystemExit("\n\n".join(problems))


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


async def prepare(
    steps: Steps,
    all_units: list[Unit],
    urls: dict[str, str],
    broker,
    seed,
) -> None:
    """Migrations and the broker at once; the seed once every database has its schema
    (seeding writes each library's items through its outbox, on its own database)."""

    from libs.common.db import ensure_database
    from libs.common.migrate import upgrade

    async def broker_step() -> None:
        task = steps.add("broker users, permissions, queues", 1)
        await broker()
        steps.advance(task)

    async def databases_then_migrations() -> None:
        # CREATE DATABASE waits on a disk flush: all at once they share the waits.
        await steps.track(
            f"databases ({len(all_units)})", (ensure_database(urls[u.key]) for u in all_units)
        )
        await steps.track(
            f"migrations ({len(all_units)} databases)",
            (upgrade(u.service, urls[u.key]) for u in all_units),
            limit=1,
        )

    await asyncio.gather(databases_then_migrations(), broker_step())
    await steps.track("demo seed (libraries, catalogue)", seed)
