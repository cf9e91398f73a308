"""One embedded federation (deploy.launch's embedded way: SQLite, the in-process bus) for the
whole browser test package, on ports 21xxx, and headless Chromium (Debian's ``chromium``
package, never a downloaded browser) driven by Playwright.

Every page a test visits is checked with axe-core (served from this folder, never a CDN) for
serious or critical accessibility violations, and photographed into ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from libs.common.auth import client_secret
from libs.common.federation import load_federation
from libs.common.settings import DEV_SECRET

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FEDERATION = """
[federation]
name = "illfed browser-test federation"
host = "127.0.0.1"
[services.catalog]
port = 21100
[services.requests]
port = 21200
[services.notifier]
port = 21300
smtp_port = 21025
[consortia.HKALL]
name = "Hong Kong Academic Library Link"
currency = "HKD"
timezone = "Asia/Hong_Kong"
policy = "hkall"
[consortia.HKPL]
name = "Hong Kong Public Libraries"
currency = "HKD"
timezone = "Asia/Hong_Kong"
policy = "hkpl"
[[libraries]]
code = "eduhk"
name = "The Education University of Hong Kong Library"
names = { "zh-Hant" = "香港教育大學圖書館" }
consortium = "HKALL"
port = 21405
email = "hkall@eduhk.example.hk"
service_points = [
  { code = "mmw", name = "MMW Library circulation counter" },
  { code = "tko", name = "Tseung Kwan O Study Centre Library" },
]
[[libraries]]
code = "hkbu"
name = "Hong Kong Baptist University Library"
names = { "zh-Hant" = "香港浸會大學圖書館" }
consortium = "HKALL"
port = 21402
email = "ill@hkbu.example.edu.hk"
service_points = [{ code = "main", name = "Au Shue Hung Memorial Library" }]
[[libraries]]
code = "cuhk"
name = "The Chinese University of Hong Kong Library"
names = { "zh-Hant" = "香港中文大學圖書館" }
consortium = "HKALL"
port = 21404
email = "ill@lib.cuhk.example.edu.hk"
service_points = [{ code = "ul", name = "University Library" }]
[[libraries]]
code = "hkpl"
name = "Hong Kong Public Libraries"
names = { "zh-Hant" = "香港公共圖書館" }
consortium = "HKPL"
port = 21421
email = "enquiries@hkpl.example.gov.hk"
service_points = [
  { code = "hkcl", name = "Hong Kong Central Library", section = "adult" },
  { code = "kpl", name = "Kowloon Public Library", section = "adult" },
]
[[operators]]
client_id = "operator"
name = "Consortium operations desk"
"""


class OffsetClock:
    """Real time plus an offset the tests move (a stuck transaction is one whose last
    progress is days old)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Running:
    fed: object
    embedded: object
    clock: OffsetClock
    loop: asyncio.AbstractEventLoop

    def url(self, unit: str, path: str = "/") -> str:
        fed = self.fed
        if unit in fed.services:  # type: ignore[attr-defined]
            port = fed.services[unit].port  # type: ignore[attr-defined]
        else:
            port = fed.library(unit).port  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{port}{path}"

    def secret(self, client_id: str) -> str:
        return client_secret(DEV_SECRET, client_id)

    def run(self, coro, timeout: float = 30.0):
        """Run ``coro`` on the federation's event loop (its own thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="package")
def federation(tmp_path_factory) -> Iterator[Running]:
    from deploy.launch import start_embedded

    # The launcher turns the demo's mailbox and sign-ins on in the environment: put back as
    # it was afterwards, for the tests that run after this package.
    environment = dict(os.environ)
    folder = tmp_path_factory.mktemp("browser-federation")
    path = folder / "federation.toml"
    path.write_text(FEDERATION)
    fed = load_federation(path)
    clock = OffsetClock()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="federation", daemon=True)
    thread.start()
    embedded = asyncio.run_coroutine_threadsafe(
        start_embedded(fed, folder / "data", DEV_SECRET, clock), loop
    ).result(240)
    running = Running(fed, embedded, clock, loop)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(embedded.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        os.environ.clear()
        os.environ.update(environment)


@pytest.fixture(scope="package")
def browser():
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is not installed: `make browser` installs it (apt-get install -y "
            "chromium); the tests never download a browser"
        )
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # this run's screenshots only
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    pg.test_name = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())  # type: ignore[attr-defined]
    pg.shots = 0  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        # The page as the test left it (on a failure: what went wrong), kept as an artifact.
        for n, open_page in enumerate(context.pages):
            if not open_page.is_closed():
                path = ARTIFACTS / f"{pg.test_name}-last-{n}.png"  # type: ignore[attr-defined]
                open_page.screenshot(path=str(path), full_page=True)
        context.close()


def shot(page, name: str) -> Path:
    """A screenshot of the page as it is, kept as the test's artifact."""
    page.shots += 1
    path = ARTIFACTS / f"{page.test_name}-{page.shots:02d}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violations; and a screenshot."""
    shot(page, name)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {page.url}: {bad}"
