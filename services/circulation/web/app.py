"""Mounting a library's pages on its circulation app: the portal at ``/portal`` and the desk
at ``/desk``, each a page app with its own cookies and HTML error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from libs.common.auth import TokenIssuer
from libs.common.federation import Federation
from libs.common.web import Pages, web_app
from services.circulation.runtime import CirculationRuntime
from services.circulation.web import desk, portal
from services.circulation.web.errors import ERRORS
from services.circulation.web.i18n import ZH

TEMPLATES = Path(__file__).resolve().parent / "templates"


def library_names(fed: Federation) -> dict[str, dict[str, str]]:
    """Each library's name in each language of the pages."""
    return {
        lib.code: {"en": lib.name, "zh-Hant": lib.names.get("zh-Hant", lib.name)}
        for lib in fed.libraries
    }


def libname(names: dict[str, dict[str, str]], code: str | None, lang: str) -> str:
    if not code:
        return ""
    return names.get(code, {}).get(lang, code)


def mount_pages(
    app: FastAPI,
    runtime: CirculationRuntime,
    fed: Federation,
    secret_key: str,
    tokens: TokenIssuer,
) -> None:
    lib = runtime.library
    names = library_names(fed)
    common = {
        "runtime": runtime,
        "lib": lib,
        "tokens": tokens,
        "library_names": names,
    }
    for prefix, router, scope, site, on_sign_in in (
        (
            "/portal",
            portal.router,
            lib.code,
            "portal",
            (portal.SignInFirst, portal.sign_in_redirect),
        ),
        (
            "/desk",
            desk.router,
            f"{lib.code}_desk",
            "desk",
            (desk.DeskSignInFirst, desk.desk_sign_in_redirect),
        ),
    ):
        pages = Pages(
            TEMPLATES,
            scope=scope,
            secret_key=secret_key,
            prefix=prefix,
            translations=ZH,
            globals={
                "libname": libname,
                "names": names,
                "library": lib.code,
                "site": site,
                # error pages keep the site's header (its navigation, who is signed in)
                "layout": f"{site}_base.html",
                "site_names": names[lib.code],
            },
        )
        sub = web_app(pages, ERRORS, **common)
        sub.include_router(router)
        sub.add_exception_handler(*on_sign_in)
        app.mount(prefix, sub)
