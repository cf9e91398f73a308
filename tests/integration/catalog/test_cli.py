"""The command line: load files with a summary and per-record reasons; synthetic catalogues."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.common.db import drop_database, sqlite_url

from .conftest import new_database

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "marc"


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "services.catalog.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_load_marc_with_broken_records(tmp_path):
    db = sqlite_url(tmp_path / "c.db")
    out = cli(
        "load", str(FIXTURES / "broken.mrc"), "--format", "marc", "--db", db, "--create-tables"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "records created" in out.stdout and "│ 3" in out.stdout
    assert "no title (245 $a)" in out.stdout and "fx-bad-isbn" in out.stdout


def test_load_marcxml_and_json_lines(tmp_path):
    db = sqlite_url(tmp_path / "c.db")
    out = cli(
        "load", str(FIXTURES / "valid.xml"), "--format", "marcxml", "--db", db, "--create-tables"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = tmp_path / "records.jsonl"
    lines.write_text(
        '{"title": "香港歷史", "holdings": [{"library": "cityu", "item_id": "j1"}]}\n'
        "this is not json\n"
        '{"title": "Macau", "holdings": [{"library": "nowhere", "item_id": "j2"}]}\n',
        encoding="utf-8",
    )
    out = cli("load", str(lines), "--format", "json", "--db", db)
    assert out.returncode == 1
    assert "not JSON" in out.stdout and "unknown library 'nowhere'" in out.stdout


def test_missing_file_is_a_usage_error(tmp_path):
    out = cli(
        "load",
        str(tmp_path / "none.mrc"),
        "--format",
        "marc",
        "--db",
        sqlite_url(tmp_path / "c.db"),
    )
    assert out.returncode == 2 and "no such file" in out.stdout


@pytest.mark.pg
def test_synth_on_postgresql_uses_copy(tmp_path_factory):
    url = new_database("postgresql", tmp_path_factory)
    try:
        out = cli("synth", "--records", "300", "--db", url)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "records created" in out.stdout and "300" in out.stdout
    finally:
        asyncio.run(drop_database(url))


def test_seed_and_synth_on_sqlite(tmp_path):
    db = sqlite_url(tmp_path / "c.db")
    out = cli("synth", "--records", "120", "--db", db, "--create-tables")
    assert out.returncode == 0, out.stdout + out.stderr
    out = cli("seed", "--db", db)
    assert "nothing seeded" in out.stdout
