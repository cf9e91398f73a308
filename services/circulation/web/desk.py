"""The circulation desk of a library, for its staff: check out and check in by barcode, the
ILL lending list (accept, unfilled with a reason, ship, check in), the ILL borrowing list
(receive the lender's item, lend it to the patron, ship it back), a patron's account and
taking a payment.

Staff sign in with their library's client credentials; staff of library A see only library
A (another library's credentials, or a token of another service, are refused). Every action
calls the handler the staff API route calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.web import Pages
from services.circulation.adapters import ill_borrowing_repo, ill_lending_repo, patrons_repo
from services.circulation.domain.ill_requester import RequesterState
from services.circulation.domain.ill_supplier import LendingState
from services.circulation.handlers import account
from services.circulation.handlers import charges as charges_handlers
from services.circulation.handlers import ill_borrowing as borrowing
from services.circulation.handlers import ill_lending as lending
from services.circulation.handlers import loans as loans_handlers
from services.circulation.handlers.context import Invalid, Library, NotFound
from services.circulation.web import views
from services.circulation.web.once import FormOnce, new_key
from services.circulation.web.sessions import DESK_TTL_SECONDS, desk_cookie, desk_staff

try:  # the lender's recall of an ILL loan (HKALL-11, MALA-06), where that flow is built
    from services.circulation.handlers import ill_lending_loan
except ImportError:  # pragma: no cover - before it is
    ill_lending_loan = None  # type: ignore[assignment]

router = APIRouter()
LIST_LIMIT = 200
#: the lender's states in which its copy is out with the requester's patron
RECALLABLE = ("Loaned", "Overdue")


class DeskSignInFirst(Exception):
    """The page needs the library's staff signed in."""


def desk_sign_in_redirect(request: Request, exc: DeskSignInFirst) -> Response:
    return request.app.state.pages.redirect(request, "/sign-in")


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _lib(request: Request) -> Library:
    return request.app.state.lib


def _staff(request: Request) -> str:
    principal = desk_staff(request)
    if principal is None:
        raise DeskSignInFirst()
    return f"staff:{principal.subject}"


def _render(request: Request, template: str, **context: Any) -> Response:
    lib = _lib(request)
    return _pages(request).render(
        request,
        template,
        {
            "staff": desk_staff(request) is not None,
            "library": lib.code,
            "service_points": lib.service_points,
            "names": request.app.state.library_names,
            **context,
        },
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return _render(request, "desk_sign_in.html", failed=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    tokens = request.app.state.tokens
    client_id = str(form.get("client_id") or "").strip()[:80]
    try:
        client = tokens.authenticate_client(client_id, str(form.get("client_secret") or "")[:200])
    except Problem as problem:
        response = _render(request, "desk_sign_in.html", failed=problem.detail)
        response.status_code = 401
        return response
    if client.role != "library" or client.library != lib.code:
        raise Problem(
            403,
            "forbidden",
            pages.translator(request)("Forbidden"),
            f"{client.client_id} may not work at the desk of {lib.code}: a library's staff "
            "see only their own library",
        )
    token = tokens.issue(
        client.client_id, "library", lib.code, ttl=timedelta(seconds=DESK_TTL_SECONDS)
    )
    response = pages.redirect(request, "/")
    pages.set_cookie(request, response, desk_cookie(lib.code), token, max_age=DESK_TTL_SECONDS)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    pages, lib = _pages(request), _lib(request)
    await pages.form(request)
    response = pages.redirect(request, "/sign-in")
    pages.delete_cookie(request, response, desk_cookie(lib.code))
    return response


#: what waits for the desk: lending states (accept or decline, ship) and borrowing states
#: (receive, lend to the patron, ship back)
LENDING_WAITING = ("RequestReceived", "WillSupply")
BORROWING_WAITING = ("Shipped", "AwaitingPickup", "Returned", "NotPickedUp")


@router.get("/")
async def desk_home(request: Request) -> Response:
    _staff(request)
    todo: list[tuple[str, str, int]] = []
    async with request.app.state.runtime.engine.connect() as conn:
        for state in LENDING_WAITING:
            page = await ill_lending_repo.page(conn, state=state, after=None, limit=LIST_LIMIT)
            todo.append(("/lending", state, len(page.items)))
        for state in BORROWING_WAITING:
            rows = await ill_borrowing_repo.listing(conn, state=state, after=None, limit=LIST_LIMIT)
            todo.append(("/borrowing", state, len(rows)))
    return _render(request, "desk_home.html", todo=[x for x in todo if x[2]])


@router.post("/checkout")
async def checkout(request: Request) -> Response:
    _staff(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        outcome = await loans_handlers.checkout(
            conn,
            lib,
            card_number=str(form.get("card_number") or "")[:20],
            smart_id=None,
            item_id=None,
            barcode=str(form.get("barcode") or "").strip()[:64],
        )
    t = pages.translator(request)
    lent = "; ".join(
        f"{(outcome.items[x.item_id].title if x.item_id in outcome.items else x.item_id)} "
        f"{t('due')} {x.due_date.isoformat()}"
        for x in outcome.loans
    )
    return pages.redirect(request, "/", f"{t('Checked out')}: {lent}")


@router.post("/checkin")
async def checkin(request: Request) -> Response:
    _staff(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        outcome = await loans_handlers.return_item(
            conn,
            lib,
            item_id=None,
            barcode=str(form.get("barcode") or "").strip()[:64],
            service_point=str(form.get("service_point") or ""),
        )
    t = pages.translator(request)
    text = f"{t('Checked in')}: {outcome.loan.item_id} → {outcome.item_status}"
    if outcome.fine is not None:
        fine = outcome.fine.amount
        text += f"; {t('fine')} {views.money(fine.amount_minor, fine.currency)}"
    return pages.redirect(request, "/", text)


# -- ILL: this library lends ---------------------------------------------------------------


@router.get("/lending")
async def lending_list(request: Request, state: str = Query(default="", max_length=24)) -> Response:
    _staff(request)
    if state and state not in set(LendingState):
        raise Invalid(f"no lending state {state!r}")
    async with request.app.state.runtime.engine.connect() as conn:
        page = await ill_lending_repo.page(conn, state=state or None, after=None, limit=LIST_LIMIT)
    rows = sorted(page.items, key=lambda r: r["updated_at"], reverse=True)
    return _render(
        request,
        "desk_lending.html",
        lendings=rows,
        recallable=RECALLABLE if ill_lending_loan is not None else (),
        state=state,
        states=[s.value for s in LendingState],
    )


@router.post("/lending/{transaction_id}/{step}")
async def lending_step(request: Request, transaction_id: str, step: str) -> Response:
    actor = _staff(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    txn = transaction_id[:64]
    barcode = str(form.get("barcode") or "").strip()[:64] or None
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        if step == "accept":
            await lending.will_supply(conn, lib, txn, barcode=barcode, actor=actor)
        elif step == "unfilled":
            reason = str(form.get("reason") or "").strip()[:500]
            if not reason:
                raise Invalid("say why the request cannot be filled")
            await lending.unfilled(conn, lib, txn, reason=reason, rule=None, actor=actor)
        elif step == "ship":
            if barcode is None:
                raise Invalid("scan the barcode of the copy you ship")
            await lending.ship(conn, lib, txn, barcode=barcode, actor=actor)
        elif step == "check-in":
            await lending.check_in(conn, lib, txn, actor=actor)
        elif step == "recall" and ill_lending_loan is not None:
            await ill_lending_loan.recall(conn, lib, txn, actor=actor)
        else:
            raise NotFound(f"no step {step}")
    t = pages.translator(request)
    return pages.redirect(request, "/lending", f"{t('Done')}: {t(step)} ({txn[:8]}…)")


# -- ILL: this library's patrons borrow ----------------------------------------------------


@router.get("/borrowing")
async def borrowing_list(
    request: Request, state: str = Query(default="", max_length=24)
) -> Response:
    _staff(request)
    lib = _lib(request)
    if state and state not in set(RequesterState):
        raise Invalid(f"no request state {state!r}")
    async with request.app.state.runtime.engine.connect() as conn:
        rows = await ill_borrowing_repo.listing(
            conn, state=state or None, after=None, limit=LIST_LIMIT
        )
        # Whose each item is: the home library's own staff shelve it for that patron.
        patrons = {}
        for patron_id in {r["patron_id"] for r in rows}:
            patron = await patrons_repo.get_patron(conn, lib.code, patron_id)
            patrons[patron_id] = patron.name_en if patron else patron_id
    requests = sorted(
        (views.request_row(r) for r in rows), key=lambda r: r["updated_at"], reverse=True
    )
    return _render(
        request,
        "desk_borrowing.html",
        requests=requests,
        patrons=patrons,
        state=state,
        states=[s.value for s in RequesterState],
    )


@router.post("/borrowing/{transaction_id}/{step}")
async def borrowing_step(request: Request, transaction_id: str, step: str) -> Response:
    actor = _staff(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    txn = transaction_id[:64]
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        if step == "receive":
            await borrowing.receive(
                conn, lib, txn, service_point=str(form.get("service_point") or ""), actor=actor
            )
        elif step == "checkout":
            await borrowing.checkout(conn, lib, txn, actor=actor)
        elif step == "ship-back":
            await borrowing.ship_back(conn, lib, txn, actor=actor)
        else:
            raise NotFound(f"no step {step}")
    t = pages.translator(request)
    return pages.redirect(request, "/borrowing", f"{t('Done')}: {t(step)} ({txn[:8]}…)")


# -- a patron's account --------------------------------------------------------------------


@router.get("/patrons")
async def patron_lookup(request: Request, card: str = Query(default="", max_length=20)) -> Response:
    _staff(request)
    lib = _lib(request)
    found = None
    if card.strip():
        async with request.app.state.runtime.engine.connect() as conn:
            patron_id = await patrons_repo.card_owner(conn, card.strip().upper())
            if patron_id is None:
                raise NotFound(f"no library card {card.strip().upper()}")
            found = {
                "summary": await account.summary(conn, lib, patron_id),
                "statement": await account.statement_view(conn, lib, patron_id),
            }
    return _render(
        request,
        "desk_patron.html",
        card=card,
        found=found,
        money=views.money,
        form_key=new_key(),
    )


def _minor(text: str) -> int:
    """``12.50`` as 1250 minor units; anything else is refused in words."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise Invalid(f"{text!r} is not an amount (write it as 12.50)")
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))


@router.post("/patrons/{patron_id}/payments")
async def take_payment(request: Request, patron_id: str) -> Response:
    actor = _staff(request)
    pages, lib = _pages(request), _lib(request)
    form = await pages.form(request)
    amount = _minor(str(form.get("amount") or ""))
    reason = str(form.get("reason") or "paid at the desk")[:200]
    card = str(form.get("card") or "")[:20]
    t = pages.translator(request)
    once = FormOnce(actor, form, f"/desk/patrons/{patron_id}/payments", [amount, reason])
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        kept = await once.prior(conn)
        if kept is None:
            entry, ledger = await charges_handlers.settle(
                conn,
                lib,
                patron_id[:64],
                kind="payment",
                amount_minor=amount,
                actor=actor,
                reason=reason,
                applies_to=None,
            )
            paid = views.money(entry.amount.amount_minor, entry.amount.currency)
            owed = views.money(ledger.outstanding_minor(), ledger.currency)
            kept = {"flash": f"{t('Payment taken')}: {paid}; {t('still owed')} {owed}"}
            await once.keep(conn, lib, kept)
    return pages.redirect(request, f"/patrons?card={card}", kept["flash"])
