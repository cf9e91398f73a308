"""The operators' dashboard: transactions by state with filters and search, one
transaction's history from the three sides, stuck transactions with the party the broker
waits for, each library's lending and borrowing with fill rates, dead letters with their
reason and a replay button, and charts. The live parts reload themselves (htmx polling) so
an operator sees a transaction move on without reloading the page.

Operators sign in with their client credentials (the same as for the API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from libs.common.auth import Principal, TokenIssuer
from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.federation import Federation
from libs.common.web import Pages
from services.requests.adapters import dashboard as queries
from services.requests.adapters import dead_letters as dead_letters_repo
from services.requests.adapters import transactions as repo
from services.requests.domain import dashboard as figures
from services.requests.domain.broker import BrokerState, stuck
from services.requests.web.charts import bar_chart, percent


def money(minor: int, currency: str) -> str:
    whole, cents = divmod(abs(minor), 100)
    return f"{currency} {'-' if minor < 0 else ''}{whole}.{cents:02d}"


try:  # the inter-library settlement ledger (MALA-13), where it is kept
    from services.requests.adapters import settlement as settlement_repo
    from services.requests.domain.settlement import statements as settlement_statements
except ImportError:  # pragma: no cover - before it is
    settlement_repo = None  # type: ignore[assignment]
    settlement_statements = None  # type: ignore[assignment]

router = APIRouter()
COOKIE = "illfed_requests_operator"
OPERATOR_TTL_SECONDS = 8 * 3600
#: how often the live parts ask again (htmx polling), in seconds
POLL_SECONDS = 2
LIST_LIMIT = 100
DAYS = 14


class OperatorSignInFirst(Exception):
    """The page needs an operator signed in."""


def operator_sign_in_redirect(request: Request, exc: OperatorSignInFirst) -> Response:
    return request.app.state.pages.redirect(request, "/sign-in")


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _operator(request: Request) -> Principal:
    tokens: TokenIssuer = request.app.state.tokens
    token = request.cookies.get(COOKIE)
    principal = None
    if token:
        try:
            principal = tokens.verify(token)
        except Problem:
            principal = None
    if principal is None:
        raise OperatorSignInFirst()
    if not principal.is_operator:
        raise Problem(403, "forbidden", "Forbidden", "only consortium operators see the dashboard")
    return principal


def _render(request: Request, template: str, **context: Any) -> Response:
    return _pages(request).render(
        request,
        template,
        {
            "operator": True,
            "poll": POLL_SECONDS,
            "states": [s.value for s in BrokerState],
            **context,
        },
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return _pages(request).render(request, "dashboard_sign_in.html", {"failed": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    pages = _pages(request)
    form = await pages.form(request)
    tokens: TokenIssuer = request.app.state.tokens
    try:
        client = tokens.authenticate_client(
            str(form.get("client_id") or "")[:80], str(form.get("client_secret") or "")[:200]
        )
    except Problem as problem:
        return pages.render(
            request, "dashboard_sign_in.html", {"failed": problem.detail}, status=401
        )
    if client.role != "operator":
        raise Problem(
            403, "forbidden", "Forbidden", f"{client.client_id} is not a consortium operator"
        )
    token = tokens.issue(
        client.client_id, "operator", None, ttl=timedelta(seconds=OPERATOR_TTL_SECONDS)
    )
    response = pages.redirect(request, "/")
    pages.set_cookie(request, response, COOKIE, token, max_age=OPERATOR_TTL_SECONDS)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    pages = _pages(request)
    await pages.form(request)
    response = pages.redirect(request, "/sign-in")
    pages.delete_cookie(request, response, COOKIE)
    return response


def _row(row: dict[str, Any], now) -> dict[str, Any]:
    s = stuck(row["state"], row["updated_at"], now, row["current_lender"], row["requester"])
    return {**row, "stuck": s}


async def _overview(request: Request) -> dict[str, Any]:
    rt = request.app.state.runtime
    fed: Federation = request.app.state.fed
    now = rt.clock.now()
    tz = ZoneInfo(next(iter(fed.consortia.values())).timezone)
    since = now - timedelta(days=DAYS)
    async with rt.engine.connect() as conn:
        counts = await queries.counts_by_state(conn)
        stuck_rows = [_row(r, now) for r in await queries.stuck(conn, now)]
        recent = [
            _row(r, now)
            for r in await queries.search(
                conn, states=None, library=None, text=None, stuck_at=None, limit=15
            )
        ]
        libs = figures.library_figures(
            [lib.code for lib in fed.libraries],
            await queries.borrowing_by_state(conn),
            await queries.lenders_tried(conn, now - timedelta(days=365)),
        )
        days = figures.per_day(
            await queries.created_since(conn, since), now.astimezone(tz).date(), DAYS, tz
        )
        picked = await queries.pickup_times(conn, since)
        parked = await dead_letters_repo.list_dead_letters(
            conn, status="parked", queue=None, after=None, limit=50
        )
        settlement = None
        if settlement_repo is not None and settlement_statements is not None:
            # What each home library owes each lender for its patrons' charges, per currency.
            settlement = [
                {
                    "home": x.home,
                    "lender": x.lender,
                    "currency": x.currency,
                    "owed_minor": x.owed_minor,
                    "collected_minor": x.collected_minor,
                    "outstanding_minor": x.outstanding_minor,
                }
                for x in settlement_statements(await settlement_repo.entries(conn))
            ]
    pickup = figures.pickup_hours((a, b) for _, a, b in picked)
    by_library = figures.pickup_hours_by_library(picked)
    charts = {
        "per_day": bar_chart(
            "Requests per day", [(d.strftime("%m-%d"), n) for d, n in days], ident="per-day"
        ),
        "fill_rate": bar_chart(
            "Lending fill rate per library",
            [(f.library, f.lending_fill_rate) for f in libs if f.lending_asked],
            scale=1.0,
            label=percent,
            ident="fill-rate",
        ),
        "pickup": bar_chart(
            "Median hours from request to pickup, per requesting library",
            list(by_library.items()),
            label=lambda v: "—" if v is None else f"{v:.1f} h",
            ident="pickup",
        ),
    }
    return {
        "counts": [(s.value, counts.get(s.value, 0)) for s in BrokerState],
        "total": sum(counts.values()),
        "stuck_rows": stuck_rows,
        "recent": recent,
        "libraries": libs,
        "charts": charts,
        "pickup_hours": pickup,
        "dead_letters": parked.items,
        "settlement": settlement,
        "money": money,
        "percent": percent,
        "now": now,
    }


@router.get("/")
async def overview(request: Request) -> Response:
    _operator(request)
    return _render(request, "dashboard_overview.html", **await _overview(request))


@router.get("/live/overview")
async def overview_live(request: Request) -> Response:
    _operator(request)
    return _render(request, "dashboard_overview_live.html", **await _overview(request))


async def _listing(request: Request, state: str, library: str, q: str, stuck_only: bool):
    rt = request.app.state.runtime
    now = rt.clock.now()
    if state and state not in BrokerState.__members__:
        raise Problem(422, "invalid-state", "Unknown state", f"no broker state {state!r}")
    async with rt.engine.connect() as conn:
        rows = await queries.search(
            conn,
            states=[state] if state else None,
            library=library or None,
            text=q.strip() or None,
            stuck_at=now if stuck_only else None,
            limit=LIST_LIMIT,
        )
    return {
        "rows": [_row(r, now) for r in rows],
        "state": state,
        "library": library,
        "q": q,
        "stuck_only": stuck_only,
        "libraries": [lib.code for lib in request.app.state.fed.libraries],
    }


Filters = dict[str, Any]


@router.get("/transactions")
async def transactions(
    request: Request,
    state: str = Query(default="", max_length=24),
    library: str = Query(default="", max_length=40),
    q: str = Query(default="", max_length=100),
    stuck_only: bool = Query(default=False, alias="stuck"),
) -> Response:
    _operator(request)
    listing = await _listing(request, state, library, q, stuck_only)
    query = str(request.url.query)
    return _render(request, "dashboard_transactions.html", query=query, **listing)


@router.get("/live/transactions")
async def transactions_live(
    request: Request,
    state: str = Query(default="", max_length=24),
    library: str = Query(default="", max_length=40),
    q: str = Query(default="", max_length=100),
    stuck_only: bool = Query(default=False, alias="stuck"),
) -> Response:
    _operator(request)
    listing = await _listing(request, state, library, q, stuck_only)
    return _render(request, "dashboard_transactions_live.html", **listing)


async def _one(request: Request, transaction_id: str) -> dict[str, Any]:
    rt = request.app.state.runtime
    now = rt.clock.now()
    async with rt.engine.connect() as conn:
        row = await repo.get(conn, transaction_id[:64])
        if row is None:
            raise Problem(404, "not-found", "Not found", f"no transaction {transaction_id}")
        history = await repo.history(conn, transaction_id[:64])
    sides: dict[str, list] = {"requester": [], "supplier": [], "broker": []}
    for h in history:
        sides.setdefault(h["side"], []).append(h)
    return {"txn": _row(row, now), "history": history, "sides": sides}


@router.get("/transactions/{transaction_id}")
async def transaction(request: Request, transaction_id: str) -> Response:
    _operator(request)
    return _render(request, "dashboard_transaction.html", **await _one(request, transaction_id))


@router.get("/live/transactions/{transaction_id}")
async def transaction_live(request: Request, transaction_id: str) -> Response:
    _operator(request)
    return _render(
        request, "dashboard_transaction_live.html", **await _one(request, transaction_id)
    )


@router.get("/dead-letters")
async def dead_letters(
    request: Request, status: str = Query(default="parked", pattern="^(parked|replayed|discarded)$")
) -> Response:
    _operator(request)
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        page = await dead_letters_repo.list_dead_letters(
            conn, status=status, queue=None, after=None, limit=LIST_LIMIT
        )
    return _render(request, "dashboard_dead_letters.html", items=page.items, status=status)


@router.post("/dead-letters/{dl_id}/replay")
async def replay(request: Request, dl_id: int) -> Response:
    """Send a parked message back to the queue it failed in; the consumer checks it against
    the library that first sent it, so a forged one is refused again."""
    operator = _operator(request)
    pages = _pages(request)
    form = await pages.form(request)
    rt = request.app.state.runtime
    async with unit_of_work(rt.engine) as conn:
        row = await dead_letters_repo.replay(conn, dl_id, operator.subject, rt.clock)
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no dead letter {dl_id}")
    if row["status"] != "replayed":
        raise Problem(
            409, "not-parked", "Not parked", f"dead letter {dl_id} is {row['status']}, not parked"
        )
    back = str(form.get("back") or "")
    if request.headers.get("hx-request"):
        return Response(
            f'<span class="good" role="status">Replayed message {dl_id}.</span>',
            media_type="text/html",
        )
    response = pages.redirect(request, "/dead-letters", f"Replayed message {dl_id}.")
    if back.startswith(pages.prefix + "/"):
        response.headers["location"] = back
    return response
