"""Run a service's Alembic migrations on PostgreSQL or SQLite, from code or the command line.

    python -m libs.common.migrate upgrade catalog sqlite+aiosqlite:///data/catalog.db
    python -m libs.common.migrate revision catalog -m "add holdings index"

Each service keeps its versions in ``services/<name>/adapters/migrations/versions`` and its
tables in ``services/<name>/adapters/tables.py`` (``metadata``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from libs.common.db import ensure_database, make_engine, sqlite_url

SERVICES = ("circulation", "requests", "catalog", "notifier")
_ROOT = Path(__file__).resolve().parents[2]
_ENV_DIR = Path(__file__).resolve().parent / "alembic"


def versions_dir(service: str) -> Path:
    return _ROOT / "services" / service / "adapters" / "migrations" / "versions"


def metadata_of(service: str) -> MetaData:
    """The service's tables, the shared outbox, inbox and idempotency keys among them."""
    return importlib.import_module(f"services.{service}.adapters.tables").metadata


def _config(service: str, sync_conn=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_ENV_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(versions_dir(service)))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = sync_conn
    cfg.attributes["metadata"] = metadata_of(service)
    return cfg


async def upgrade(service: str, url: str) -> None:
    """Create the database if needed and bring it to the newest schema."""
    await ensure_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.upgrade(_config(service, c), "head"))
            await conn.commit()
    finally:
        await engine.dispose()


async def is_current(service: str, url: str) -> bool:
    """Whether the database at ``url`` exists and has the newest schema (what a replica waits
    for while the one-shot migration job runs)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_config(service)).get_heads())
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: set(MigrationContext.configure(c).get_current_heads())
            )
    except Exception:  # no server, no database yet: not current
        return False
    finally:
        await engine.dispose()
    return current == heads


async def _revision(service: str, message: str) -> None:
    # Autogenerate against an empty SQLite database brought to head, so the new revision holds
    # exactly what the tables module added since.
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "scratch.db")
        await upgrade(service, url)
        engine = make_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(
                lambda c: command.revision(_config(service, c), message=message, autogenerate=True)
            )
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.common.migrate")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade")
    up.add_argument("service", choices=SERVICES)
    up.add_argument("url")
    rev = sub.add_parser("revision")
    rev.add_argument("service", choices=SERVICES)
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "upgrade":
        asyncio.run(upgrade(args.service, args.url))
    else:
        versions_dir(args.service).mkdir(parents=True, exist_ok=True)
        asyncio.run(_revision(args.service, args.message))


if __name__ == "__main__":
    main()
