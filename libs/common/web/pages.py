"""Rendering a service's pages, and protecting them as the API is protected.

* Templates: the service's own folder first, then the shared layout (``base.html``,
  ``error.html``); static files from the shared folder under ``/static`` of the page app.
* Cookies are HttpOnly and SameSite, and Secure except over plain HTTP to a loopback
  address (a developer's own machine). A cookie for 127.0.0.1 reaches every port, so each
  service names its own (``illfed_<library>_session``): one library's session never reaches
  another library's pages, nor the catalogue (which would refuse a token for another audience).
* CSRF: a random value in a cookie of the page app, and in every form its HMAC under the
  deployment secret (signed double submit). A POST whose token is missing or does not match
  is refused with a 403 page that says so in words; :meth:`Pages.form` checks it, and every
  POST route reads its form through it.
* Errors become a page with the status, a title and the reason in words; the unexpected are
  logged and shown as "something went wrong", never as a stack trace.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.common.errors import Problem, internal_error
from libs.common.web.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGES,
    SHARED,
    Translator,
    chosen_language,
    merged,
)

log = structlog.get_logger("illfed.web")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CSRF_FIELD = "csrf_token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: how many bytes a form may be (the service's body limit is far above it)
MAX_FORM_FIELDS = 200


class CsrfRefused(Exception):
    """A form without a valid CSRF token: refused (403) before anything is done."""


def secure_cookies(request: Request) -> bool:
    """Secure cookies everywhere but plain HTTP to this machine's own loopback address."""
    return not (request.url.scheme == "http" and request.url.hostname in LOOPBACK)


class Pages:
    """One page app's templates, cookies, CSRF and language.

    ``scope`` names its cookies (``illfed_<scope>_csrf``); ``translations`` are the Chinese
    texts of the service's pages; ``globals`` are given to every template."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        scope: str,
        secret_key: str,
        prefix: str,
        translations: Mapping[str, str] | None = None,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.scope, self.prefix = scope, prefix.rstrip("/")
        self._key = hashlib.sha256(f"illfed-web-csrf:{secret_key}".encode()).digest()
        self.templates = Jinja2Templates(directory=str(templates_dir))
        self.templates.env.loader = ChoiceLoader(
            [FileSystemLoader(str(templates_dir)), FileSystemLoader(str(HERE / "templates"))]
        )
        self.templates.env.globals.update(globals or {})
        self.messages = merged(SHARED, translations or {})
        self.csrf_cookie = f"illfed_{scope}_csrf"
        self.flash_cookie = f"illfed_{scope}_flash"

    # -- language --------------------------------------------------------------------

    def language(self, request: Request) -> str:
        return chosen_language(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    def translator(self, request: Request) -> Translator:
        return Translator(self.language(request), self.messages)

    # -- CSRF ------------------------------------------------------------------------

    def _csrf_value(self, request: Request) -> str:
        value = getattr(request.state, "csrf_value", None) or request.cookies.get(self.csrf_cookie)
        if not value or len(value) > 100:
            value = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        request.state.csrf_value = value
        return value

    def _token(self, value: str) -> str:
        return hmac.new(self._key, f"{self.scope}:{value}".encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, request: Request) -> str:
        return self._token(self._csrf_value(request))

    async def form(self, request: Request) -> FormData:
        """The POSTed form, once its CSRF token is checked (:class:`CsrfRefused` if not)."""
        form = await request.form(max_fields=MAX_FORM_FIELDS)
        sent = form.get(CSRF_FIELD)
        value = request.cookies.get(self.csrf_cookie)
        if (
            not isinstance(sent, str)
            or not value
            or not hmac.compare_digest(sent, self._token(value))
        ):
            raise CsrfRefused()
        return form

    # -- cookies ---------------------------------------------------------------------

    def set_cookie(
        self,
        request: Request,
        response: Response,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        samesite: str = "lax",
        httponly: bool = True,
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=httponly,
            samesite=samesite,  # type: ignore[arg-type]
            secure=secure_cookies(request),
        )

    def delete_cookie(self, request: Request, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path="/", httponly=True, samesite="lax", secure=secure_cookies(request)
        )

    def flash(self, request: Request, response: Response, message: str) -> None:
        """A message the next page shows once (what was just done)."""
        self.set_cookie(request, response, self.flash_cookie, quote(message[:600]), max_age=60)

    def redirect(self, request: Request, path: str, flash: str | None = None) -> Response:
        """303 to ``path`` of this page app (after a POST: the browser GETs it)."""
        response = RedirectResponse(self.url(path), status_code=303)
        if flash:
            self.flash(request, response, flash)
        return response

    def url(self, path: str) -> str:
        return f"{self.prefix}{path}"

    # -- rendering -------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        t = self.translator(request)
        flash = request.cookies.get(self.flash_cookie)
        ctx = {
            "t": t,
            "lang": t.language,
            "languages": LANGUAGES,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.csrf_token(request),
            "prefix": self.prefix,
            "url": self.url,
            "flash": unquote(flash) if flash else None,
            "here": request.url.path + (("?" + request.url.query) if request.url.query else ""),
            **(context or {}),
        }
        response = self.templates.TemplateResponse(
            request, template, ctx, status_code=status, headers=dict(headers or {})
        )
        response.headers.setdefault("Cache-Control", "no-store")
        if getattr(request.state, "csrf_new", False):
            # Strict: the value never travels with a request another site starts.
            self.set_cookie(
                request, response, self.csrf_cookie, request.state.csrf_value, samesite="strict"
            )
        if flash:
            self.delete_cookie(request, response, self.flash_cookie)
        return response

    def error(self, request: Request, problem: Problem) -> HTMLResponse:
        refusals = problem.extra.get("refusals") or []
        return self.render(
            request,
            "error.html",
            {
                "status": problem.status,
                "title": problem.title,
                "detail": problem.detail,
                "refusals": refusals,
            },
            status=problem.status,
            headers=problem.headers,
        )


def language_route(pages: Pages):
    """``POST <prefix>/language``: the patron's language, remembered for a year."""

    async def choose_language(request: Request) -> Response:
        form = await pages.form(request)
        lang = form.get("lang")
        back = form.get("back")
        target = back if isinstance(back, str) and back.startswith(pages.prefix) else None
        response = RedirectResponse(target or pages.url("/"), status_code=303)
        if isinstance(lang, str) and lang in LANGUAGES:
            pages.set_cookie(
                request, response, LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True
            )
        return response

    return choose_language


ProblemOf = Callable[[Any], Problem]


def web_app(
    pages: Pages, errors: Mapping[type[Exception], ProblemOf] | None = None, **state: Any
) -> FastAPI:
    """A page app to mount under ``pages.prefix``: its static files, the language switch and
    HTML error pages. ``errors`` turn the service's own exceptions (a rule refusal, a
    missing record) into the problem they mean; ``state`` goes to ``app.state``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for name, value in state.items():
        setattr(app.state, name, value)
    app.state.pages = pages
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_api_route("/language", language_route(pages), methods=["POST"])

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        t = pages.translator(request)
        return pages.error(
            request,
            Problem(
                403,
                "csrf",
                t("This form cannot be accepted"),
                t(
                    "The form was not sent from this site, or it has expired. Go back, reload "
                    "the page and send it again."
                ),
            ),
        )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return pages.error(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        t = pages.translator(request)
        titles = {404: "Not found", 403: "Forbidden", 401: "Not authenticated"}
        title = t(titles.get(exc.status_code, "This form cannot be accepted"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return pages.error(request, Problem(exc.status_code, "http", title, detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        t = pages.translator(request)
        fields = "; ".join(f"{e.get('loc', ['?'])[-1]}: {e.get('msg')}" for e in exc.errors())
        return pages.error(
            request,
            Problem(422, "invalid", t("The form is not filled in correctly"), fields[:500]),
        )

    for kind, convert in (errors or {}).items():

        def handler(convert: ProblemOf = convert):
            async def _known(request: Request, exc: Exception):
                return pages.error(request, convert(exc))

            return _known

        app.add_exception_handler(kind, handler())

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception):
        log.error("unhandled error in a page", path=request.url.path, error=repr(exc))
        t = pages.translator(request)
        problem = internal_error()
        problem.title, problem.detail = t(problem.title), t(problem.detail or "")
        return pages.error(request, problem)

    return app
