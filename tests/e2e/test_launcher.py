"""Both ways of running, as a newcomer runs them: start the launcher, wait for the URLs,
every /ready answers 200, an item added at one library shows up in the union catalogue,
Ctrl-C stops everything. A two-library federation on its own ports keeps it quick."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from libs.common.auth import client_secret
from libs.common.db import drop_database, pg_url
from libs.common.messaging.broker_admin import delete_vhost
from libs.common.settings import DEV_SECRET

ROOT = Path(__file__).resolve().parents[2]
FEDERATION = """
[federation]
name = "two-library test federation"
host = "127.0.0.1"
[services.catalog]
port = {base}100
[services.requests]
port = {base}200
[services.notifier]
port = {base}300
smtp_port = {base}025
[consortia.HKALL]
name = "Hong Kong Academic Library Link"
currency = "HKD"
timezone = "Asia/Hong_Kong"
policy = "hkall"
[[libraries]]
code = "cityu"
name = "City University of Hong Kong Library"
consortium = "HKALL"
port = {base}401
email = "ill@cityu.example.edu.hk"
service_points = [{{ code = "main", name = "Run Run Shaw Library" }}]
[[libraries]]
code = "hkbu"
name = "Hong Kong Baptist University Library"
consortium = "HKALL"
port = {base}402
email = "ill@hkbu.example.edu.hk"
service_points = [{{ code = "main", name = "Au Shue Hung Memorial Library" }}]
[[operators]]
client_id = "operator"
name = "Operations"
"""
PORTS = ("100", "200", "300", "401", "402")


def _launch(tmp_path: Path, base: int, *args: str) -> subprocess.Popen:
    fed = tmp_path / "federation.toml"
    fed.write_text(FEDERATION.format(base=base))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy.launch",
            "--federation",
            str(fed),
            "--data",
            str(tmp_path / "data"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_urls(proc: subprocess.Popen, limit: float = 150.0) -> str:
    out, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        out.append(line)
        if "/mailbox" in line:
            return "".join(out)
    proc.kill()
    pytest.fail("the launcher printed no URLs:\n" + "".join(out) + (proc.stdout.read() or ""))


async def _item_reaches_catalogue(base: int) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for port in PORTS:
            res = await http.get(f"http://127.0.0.1:{base}{port}/ready")
            assert res.status_code == 200, res.text
        circ = f"http://127.0.0.1:{base}401"
        token = (
            await http.post(
                f"{circ}/api/v1/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "cityu",
                    "client_secret": client_secret(DEV_SECRET, "cityu"),
                },
            )
        ).json()["access_token"]
        res = await http.post(
            f"{circ}/api/v1/items",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "barcode": "E2E-1",
                "title": "澳門文學史",
                "authors": ["鄭煒明"],
                "material_type": "book",
                "service_point": "main",
            },
        )
        assert res.status_code == 201, res.text
        item_id = res.json()["id"]
        url = f"http://127.0.0.1:{base}100/api/v1/holdings/cityu/{item_id}"
        for _ in range(100):
            got = await http.get(url)
            if got.status_code == 200:
                assert got.json()["status"] == "AVAILABLE"
                return
            await asyncio.sleep(0.1)
        pytest.fail("the item never reached the union catalogue")


async def _search_total(base: int, q: str = "香港") -> int:
    """The seeded demo catalogue is searchable on the catalogue's URL."""
    async with httpx.AsyncClient(timeout=5) as http:
        res = await http.get(f"http://127.0.0.1:{base}100/api/v1/search", params={"q": q})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["results"] and all(q in r["title"] + str(r["subjects"]) for r in doc["results"])
    return doc["total"]


async def _settled_total(base: int) -> int:
    """The search total once the libraries' seeded items have all reached the catalogue: they
    travel through each library's outbox after the URLs are printed, so the count grows for a
    moment before it holds."""
    last, same_since = await _search_total(base), time.monotonic()
    deadline = same_since + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = await _search_total(base)
        if now != last:
            last, same_since = now, time.monotonic()
        elif time.monotonic() - same_since >= 3:
            return now
    pytest.fail(f"the catalogue's search total never settled (last {last})")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        rest = proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the launcher did not stop on Ctrl-C")
    assert proc.returncode == 0, rest
    return rest


async def test_make_run_embedded_federation(tmp_path):
    proc = _launch(tmp_path, 17, "run")
    printed = _wait_for_urls(proc)
    assert "http://127.0.0.1:17401/docs" in printed and "embedded" in printed
    try:
        await _item_reaches_catalogue(17)
        seeded = await _settled_total(17)
    finally:
        rest = _stop(proc)
    assert "stopped." in rest
    # Running again keeps the data: the item is still in the catalogue, the demo catalogue is
    # not loaded a second time.
    proc = _launch(tmp_path, 17, "run")
    _wait_for_urls(proc)
    try:
        async with httpx.AsyncClient() as http:
            res = await http.get("http://127.0.0.1:17401/ready")
            assert res.status_code == 200
        assert await _settled_total(17) == seeded
    finally:
        _stop(proc)
    assert (tmp_path / "data" / "circulation-cityu.db").exists()


@pytest.mark.pg
@pytest.mark.rabbit
async def test_make_up_distributed_federation(tmp_path):
    tag = uuid.uuid4().hex[:6]
    vhost, prefix = f"illfed-e2e-{tag}", f"illfed_e2e_{tag}"
    proc = _launch(tmp_path, 16, "up", "--vhost", vhost, "--db-prefix", prefix)
    try:
        printed = _wait_for_urls(proc)
        assert "distributed, 5 processes" in printed
        await _item_reaches_catalogue(16)
        assert await _search_total(16) > 0
    finally:
        _stop(proc)
        for key in ("catalog", "requests", "notifier", "circulation_cityu", "circulation_hkbu"):
            await drop_database(pg_url(f"{prefix}_{key}"))
        await delete_vhost(vhost)
