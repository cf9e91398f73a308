"""The patron portal of a library: sign in (HKPL-08), search the union catalogue with the
scope "my library" or "beyond" (HKALL-04), request with a pickup point after seeing the
dry run's answer, and My Account: loans with due dates, select and renew (HKPL-06: the
Transaction Reference Number and each new due date), ILL requests with their history,
reservations, fines and fees, suspensions with their reason.

Every page calls the handlers the API's self-service routes call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from libs.common.catalogue_client import CatalogueClient
from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.web import Pages
from services.circulation.adapters import ill_borrowing_repo, items_repo
from services.circulation.api.loans import renewal_view, transaction_view
from services.circulation.domain.ill_borrowing import CatalogueRecord
from services.circulation.handlers import account, sessions
from services.circulation.handlers import holds as holds_handlers
from services.circulation.handlers import ill_borrowing as ill
from services.circulation.handlers import loans as loans_handlers
from services.circulation.handlers import patrons as patrons_handlers
from services.circulation.handlers.context import Library
from services.circulation.web import views
from services.circulation.web.once import FormOnce, new_key
from services.circulation.web.sessions import patron_cookie, session_of, signed_in_patron

router = APIRouter()
SCOPES = ("library", "consortium")
PAGE_SIZE = 10


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _lib(request: Request) -> Library:
    return request.app.state.lib


def _catalogue(request: Request) -> CatalogueClient:
    return request.app.state.runtime.extras["catalogue"]


async def _patron(request: Request) -> str:
    patron_id = await signed_in_patron(request)
    if patron_id is None:
        raise SignInFirst()
    return patron_id


class SignInFirst(Exception):
    """The page needs a signed-in patron: to the sign-in page, and back afterwards."""


def sign_in_redirect(request: Request, exc: SignInFirst) -> Response:
    pages = _pages(request)
    back = request.url.path if request.method == "GET" else pages.url("/account")
    return pages.redirect(request, f"/sign-in?next={back}")


def _render(request: Request, template: str, patron: bool, **context: Any) -> Response:
    return _pages(request).render(request, template, {"signed_in": patron, **context})


# -- signing in --------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    if await signed_in_patron(request) is None:
        return _pages(request).redirect(request, "/sign-in")
    return _pages(request).redirect(request, "/account")


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = Query(default="", max_length=200)):
    return _render(request, "portal_sign_in.html", False, next=next, failed=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """HKPL-08: a card number, or an HKID number once a smart ID card is registered, with a
    password or the last four phone digits. A refusal is committed (it counts towards the
    wait after repeated failures) and shown in words."""
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    identifier = str(form.get("identifier") or "").strip()[:40]
    secret = str(form.get("secret") or "")[:200]
    target = str(form.get("next") or "")
    client = request.client.host if request.client else "unknown"
    engine = request.app.state.runtime.engine
    async with unit_of_work(engine) as conn:
        outcome = await patrons_handlers.sign_in(conn, lib, identifier, secret, client=client)
    if outcome.refused:
        problem = outcome.problem()
        return pages.render(
            request,
            "portal_sign_in.html",
            {"signed_in": False, "next": target, "failed": problem, "identifier": identifier},
            status=problem.status,
            headers=problem.headers,
        )
    signed = outcome.answer()
    tokens = request.app.state.tokens
    async with unit_of_work(engine) as conn:
        session = await sessions.start(
            conn, lib, signed.patron_id, card_number=signed.card_number, ttl=tokens.ttl
        )
    token = tokens.issue(signed.patron_id, "patron", lib.code, session=session)
    back = target if target.startswith(pages.prefix + "/") else pages.url("/account")
    response = pages.redirect(request, "/account")
    response.headers["location"] = back
    pages.set_cookie(
        request,
        response,
        patron_cookie(lib.code),
        token,
        max_age=int(tokens.ttl.total_seconds()),
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    pages, lib = _pages(request), _lib(request)
    await pages.form(request)
    session = session_of(request)
    if session is not None:
        async with unit_of_work(request.app.state.runtime.engine) as conn:
            await sessions.sign_out(conn, lib, session)
    response = pages.redirect(request, "/sign-in")
    pages.delete_cookie(request, response, patron_cookie(lib.code))
    return response


# -- searching and requesting ------------------------------------------------------------


async def _judged(conn, lib: Library, patron_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One result with the home library's own answer: the ILL dry run (HKALL-01/02/03,
    quota, suspensions…) and, for a title on its own shelves, whether it may be reserved."""
    record = CatalogueRecord.of(doc)
    pickup = next(iter(lib.service_points))
    try:
        decision = ill.decision_view(
            await ill.dry_run(conn, lib, patron_id, record, pickup_location=pickup, needed_by=None)
        )
    except ill.DuplicateIllRequest as exc:
        decision = {"accepted": False, "refusals": [{"reason": str(exc), "rule": None}]}
    own = [h for h in doc.get("holdings") or [] if h.get("library") == lib.code]
    title_id = None
    if own:
        row = await items_repo.get_item(conn, own[0]["item_id"])
        title_id = row["title_id"] if row else None
    return {**doc, "decision": decision, "own": own, "title_id": title_id}


@router.get("/search")
async def search(
    request: Request,
    q: str = Query(default="", max_length=200),
    scope: str = Query(default="consortium", pattern="^(library|consortium)$"),
    cursor: str | None = Query(default=None, max_length=200),
) -> Response:
    """HKALL-04: the union catalogue under "my library" or "beyond" (the consortium)."""
    patron_id = await _patron(request)
    lib = _lib(request)
    page: dict[str, Any] = {"results": [], "total": 0, "next_cursor": None}
    results = []
    if q.strip():
        page = await _catalogue(request).search(
            q=q, scope=scope, home_library=lib.code, page_size=PAGE_SIZE, cursor=cursor
        )
        async with request.app.state.runtime.engine.connect() as conn:
            results = [await _judged(conn, lib, patron_id, doc) for doc in page["results"]]
    return _render(
        request,
        "portal_search.html",
        True,
        q=q,
        scope=scope,
        results=results,
        total=page.get("total", 0),
        next_cursor=page.get("next_cursor"),
        service_points=lib.service_points,
        consortium=lib.policy.policy.consortium,
        names=request.app.state.library_names,
    )


@router.get("/records/{record_id}/request")
async def request_page(
    request: Request,
    record_id: int,
    pickup: str | None = Query(default=None, max_length=32),
) -> Response:
    """The request form with the dry run's answer for the chosen pickup point: whether it
    would be accepted, and every rule that refuses it, before anything is sent."""
    patron_id = await _patron(request)
    lib = _lib(request)
    record = await ill.lookup_record(_catalogue(request), lib, record_id)
    pickup = pickup if pickup in lib.service_points else next(iter(lib.service_points))
    async with request.app.state.runtime.engine.connect() as conn:
        try:
            decision = ill.decision_view(
                await ill.dry_run(
                    conn, lib, patron_id, record, pickup_location=pickup, needed_by=None
                )
            )
        except ill.DuplicateIllRequest as exc:
            decision = {"accepted": False, "refusals": [{"reason": str(exc), "rule": None}]}
    return _render(
        request,
        "portal_request.html",
        True,
        record=record,
        pickup=pickup,
        service_points=lib.service_points,
        decision=decision,
        names=request.app.state.library_names,
    )


@router.post("/records/{record_id}/request")
async def place_request(request: Request, record_id: int) -> Response:
    patron_id = await _patron(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    pickup = str(form.get("pickup") or "")
    record = await ill.lookup_record(_catalogue(request), lib, record_id)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        row = await ill.place_request(
            conn,
            lib,
            patron_id,
            record,
            pickup_location=pickup,
            needed_by=None,
            actor=f"patron:{patron_id}",
        )
    t = pages.translator(request)
    return pages.redirect(
        request,
        f"/requests/{row['transaction_id']}",
        t("Your request for {title} was sent.", title=record.title),
    )


@router.post("/holds")
async def place_hold(request: Request) -> Response:
    """Reserve a title on the library's own shelves (the fee is charged at collection,
    HKPL-11)."""
    patron_id = await _patron(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    title_id = str(form.get("title_id") or "")[:64]
    pickup = str(form.get("pickup") or next(iter(lib.service_points)))
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        await holds_handlers.place(conn, lib, patron_id, title_id, pickup)
    return pages.redirect(request, "/account", pages.translator(request)("Reserved."))


# -- my account --------------------------------------------------------------------------


@router.get("/account")
async def my_account(request: Request) -> Response:
    patron_id = await _patron(request)
    lib = _lib(request)
    async with request.app.state.runtime.engine.connect() as conn:
        summary = await account.summary(conn, lib, patron_id)
        statement = await account.statement_view(conn, lib, patron_id)
        rows = await ill_borrowing_repo.for_patron(conn, patron_id)
        references = await views.renewal_references(conn, patron_id)
        hold_titles = await views.hold_titles(conn, summary["holds"])
    requests = [views.request_row(r) for r in rows]
    by_loan = {r["loan_id"]: r for r in requests if r["loan_id"]}
    loans = [views.loan_row(loan, by_loan.get(loan["loan_id"])) for loan in summary["loans"]]
    return _render(
        request,
        "portal_account.html",
        True,
        summary=summary,
        loans=loans,
        requests=requests,
        statement=statement,
        references=references,
        hold_titles=hold_titles,
        form_key=new_key(),
        service_points=lib.service_points,
        names=request.app.state.library_names,
        money=views.money,
    )


@router.post("/renewals")
async def renew(request: Request) -> Response:
    """Renew the loans the patron selected (HKPL-02..07): the Transaction Reference Number
    and each renewed item's new due date; what could not be renewed, with the rule."""
    patron_id = await _patron(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    selected = [str(x)[:64] for x in form.getlist("loan_id")][:50]
    if not selected:
        t = pages.translator(request)
        raise Problem(422, "nothing-selected", t("Select the loans to renew"), None)
    once = FormOnce(f"patron:{patron_id}", form, "/portal/renewals", sorted(selected))
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        kept = await once.prior(conn)
        if kept is None:
            titles = {
                loan["loan_id"]: loan["title"]
                for loan in await account.loans_view(conn, lib, patron_id)
            }
            outcome = await loans_handlers.renew(conn, lib, patron_id, selected)
            if outcome.allowed:
                kept = jsonable_encoder(
                    {"renewal": renewal_view(outcome.answer()), "titles": titles}
                )
                await once.keep(conn, lib, kept)
    # Committed first: a refusal's notice to the patron stays (HKALL-13).
    if kept is None:
        raise outcome.problem()
    return _render(request, "portal_renewed.html", True, **kept)


@router.get("/renewals/{reference}")
async def renewal_lookup(request: Request, reference: str) -> Response:
    """HKPL-06: look a Transaction Reference Number up again."""
    patron_id = await _patron(request)
    async with request.app.state.runtime.engine.connect() as conn:
        found = await loans_handlers.lookup_transaction(conn, reference[:40], patron_id=patron_id)
    view = transaction_view(*found)
    titles = {i["loan_id"]: i["title"] for i in view["items"]}
    return _render(request, "portal_renewed.html", True, renewal=view, titles=titles)


@router.get("/requests/{transaction_id}")
async def request_detail(request: Request, transaction_id: str) -> Response:
    patron_id = await _patron(request)
    async with request.app.state.runtime.engine.connect() as conn:
        view = await ill.one_view(conn, transaction_id[:64], patron_id=patron_id)
        row = await ill_borrowing_repo.get(conn, transaction_id[:64])
    return _render(
        request,
        "portal_request_detail.html",
        True,
        req={**views.request_row(row or {}), **view},
        names=request.app.state.library_names,
        service_points=_lib(request).service_points,
    )


@router.post("/requests/{transaction_id}/cancel")
async def cancel_request(request: Request, transaction_id: str) -> Response:
    patron_id = await _patron(request)
    pages, lib = _pages(request), _lib(request)
    await pages.form(request)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        await ill.cancel(
            conn, lib, transaction_id[:64], actor=f"patron:{patron_id}", patron_id=patron_id
        )
    return pages.redirect(
        request, f"/requests/{transaction_id}", pages.translator(request)("Cancel asked for.")
    )
