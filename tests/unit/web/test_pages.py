"""The shared web layer: a POST without its CSRF token is refused with a page in words,
cookies are HttpOnly, SameSite and Secure off loopback, the language is the patron's choice,
an error is a page that names the rule and never shows a stack trace, and the front-end
files kept in the repository are the pinned ones."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from fastapi import Request

from libs.common.errors import Problem
from libs.common.web import Pages, web_app
from libs.common.web.i18n import chosen_language

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "libs" / "common" / "web" / "templates"


class Boom(Exception):
    pass


def _app():
    pages = Pages(TEMPLATES, scope="test", secret_key="k" * 32, prefix="/web")
    app = web_app(
        pages,
        {Boom: lambda exc: Problem(409, "boom", "Refused", "it cannot be done (HKPL-03)")},
    )

    @app.get("/form")
    async def form(request: Request):
        return pages.render(request, "error.html", {"status": 200, "title": "A form"})

    @app.post("/act")
    async def act(request: Request):
        await pages.form(request)
        return pages.redirect(request, "/form", "done it")

    @app.get("/refused")
    async def refused(request: Request):
        raise Boom()

    @app.get("/crash")
    async def crash(request: Request):
        raise RuntimeError("secret internals")

    return app


def _client(base: str = "http://127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url=base)


async def _token(client: httpx.AsyncClient) -> str:
    page = await client.get("/form")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_a_form_with_its_token_is_accepted_and_one_without_it_refused():
    async with _client() as client:
        token = await _token(client)
        ok = await client.post("/act", data={"csrf_token": token})
        assert ok.status_code == 303
        missing = await client.post("/act", data={})
        assert missing.status_code == 403
        assert "not sent from this site" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
        forged = await client.post("/act", data={"csrf_token": "0" * 64})
        assert forged.status_code == 403


async def test_a_token_is_good_only_with_its_own_cookie():
    async with _client() as first, _client() as second:
        token = await _token(first)
        await _token(second)  # another browser, another cookie
        assert (await second.post("/act", data={"csrf_token": token})).status_code == 403


async def test_cookies_are_httponly_samesite_and_secure_off_loopback():
    async with _client() as local:
        cookie = (await local.get("/form")).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    async with _client("https://library.example") as remote:
        cookie = (await remote.get("/form")).headers["set-cookie"]
        assert "Secure" in cookie


async def test_errors_are_pages_in_words_never_a_stack_trace():
    async with _client() as client:
        refused = await client.get("/refused")
        assert refused.status_code == 409 and "it cannot be done (HKPL-03)" in refused.text
        missing = await client.get("/nowhere")
        assert missing.status_code == 404 and "Not found" in missing.text
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        crash = await client.get("/crash")
        assert crash.status_code == 500
        assert "secret internals" not in crash.text and "Traceback" not in crash.text
        assert "Something went wrong on our side" in crash.text


async def test_the_language_is_the_patrons_choice_then_the_browsers():
    assert chosen_language("zh-Hant", "en") == "zh-Hant"
    assert chosen_language(None, "zh-HK,zh;q=0.9") == "zh-Hant"
    assert chosen_language("klingon", None) == "en"
    async with _client() as client:
        client.cookies.set("illfed_lang", "zh-Hant")
        page = await client.get("/nowhere")
        assert 'lang="zh-Hant"' in page.text and "找不到" in page.text


@pytest.mark.parametrize(
    ("path", "sha256"),
    [
        (
            "libs/common/web/static/htmx.min.js",
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
        ),
        (
            "tests/browser/vendor/axe.min.js",
            "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
        ),
    ],
)
def test_vendored_front_end_files_are_the_pinned_ones(path, sha256):
    assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == sha256


def test_no_template_loads_anything_from_another_site():
    for template in ROOT.glob("**/web/templates/*.html"):
        text = template.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), template
