"""Staff routes of the lending library's side of inter-library loans: the requests it was
asked to supply, with their history, and the answers and steps staff take on them (accept,
decline, ship with the loan terms, check in). Thin: authorise, one unit of work, answer.

A repeated POST changes nothing: a step already taken is answered with the lending as it
stands; one the state no longer allows is a 409 problem."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from libs.common.auth import CurrentPrincipal
from libs.common.changes import WaitSeconds
from libs.common.contracts.ill import LoanTerms
from libs.common.db import unit_of_work
from libs.common.policy.vocabulary import RULE_ID_PATTERN
from services.circulation.adapters import ill_lending_repo
from services.circulation.api.common import library_staff, read_only, read_until, staff
from services.circulation.api.ill_views import HistoryEntry
from services.circulation.domain.ill_supplier import LendingState
from services.circulation.handlers import ill_lending as handlers
from services.circulation.handlers import ill_lending_loan
from services.circulation.handlers.context import NotFound
from services.circulation.handlers.ill_messages import history

router = APIRouter(
    prefix="/api/v1/ill/lending", tags=["ill lending"], dependencies=[Depends(library_staff)]
)
TransactionId = Annotated[
    str, Path(min_length=1, max_length=64, description="the ILL transaction's id")
]
NOT_FOUND = {404: {"description": "this library was never asked to supply the transaction"}}
STEP_REFUSED = {
    **NOT_FOUND,
    409: {
        "description": "the lending's state does not allow this step, or the copy is not "
        "lendable now (a rule refusal names its rule)"
    },
}


class LendingView(BaseModel):
    """A request this library was asked to supply. The patron is known here only by the
    pseudonym the home library gave this lender, the category and the consortium."""

    transaction_id: str
    state: LendingState
    requester: str
    pickup_location: str
    patron_ref: str
    patron_category: str
    patron_consortium: str
    record_id: int
    title: str
    isbn: str | None
    needed_by: date | None
    lender_items: list[str]
    requested_at: datetime
    item_id: str | None
    barcode: str | None
    shipped_on: date | None
    due_date: date | None
    loan_terms: LoanTerms | None
    refusal_rule: str | None
    refusal_reason: str | None
    received_on: date | None
    checked_out_on: date | None
    renewals: int = 0
    recalled_on: date | None = None
    recalled_by: str | None = None
    updated_at: datetime
    # after the checkout: lost or claimed returned, and the charge sent (HKALL-20, MALA-11)
    lost_on: date | None = None
    claimed_returned_on: date | None = None
    charge_minor: int | None = None
    charge_currency: str | None = None
    charge_kind: str | None = None
    charge_rule: str | None = None
    charge_paid_on: date | None = None
    history: list[HistoryEntry] | None = None


class LendingPage(BaseModel):
    lendings: list[LendingView]
    next_cursor: int | None


class WillSupply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    barcode: str | None = Field(
        default=None, min_length=1, max_length=64, description="the copy to hold (default: any)"
    )


class Unfilled(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)
    rule: Annotated[str, Field(pattern=RULE_ID_PATTERN, max_length=16)] | None = None


class Ship(BaseModel):
    model_config = ConfigDict(extra="forbid")
    barcode: str = Field(min_length=1, max_length=64)


def _view(row: dict[str, Any], entries: list[dict] | None = None) -> dict[str, Any]:
    fields = {k: row[k] for k in LendingView.model_fields if k in row}
    if entries is not None:
        fields["history"] = [{k: e[k] for k in HistoryEntry.model_fields} for e in entries]
    return LendingView.model_validate(fields).model_dump(mode="json")


def _actor(principal) -> str:
    return f"staff:{principal.subject}"


@router.get("", response_model=LendingPage, summary="The requests this library was asked to lend")
async def list_lendings(
    request: Request,
    principal: CurrentPrincipal,
    state: LendingState | None = None,
    cursor: int | None = Query(default=None, ge=1),
    limit: int = Query(default=50, ge=1, le=200),
):
    staff(request, principal)

    async def work(conn):
        page = await ill_lending_repo.page(
            conn, state=state.value if state else None, after=cursor, limit=limit
        )
        return {"lendings": [_view(r) for r in page.items], "next_cursor": page.next_cursor}

    return await read_only(request, work)


@router.get(
    "/{transaction_id}",
    response_model=LendingView,
    summary="One lending, with history",
    responses=NOT_FOUND,
)
async def get_lending(
    transaction_id: TransactionId,
    request: Request,
    principal: CurrentPrincipal,
    until: Annotated[
        list[LendingState] | None,
        Query(description="Answer once the lending is in one of these states (see `wait`)."),
    ] = None,
    wait: WaitSeconds = 0,
):
    staff(request, principal)

    async def load(conn):
        row = await ill_lending_repo.get(conn, transaction_id)
        if row is None:
            raise NotFound(f"no lending of ILL transaction {transaction_id}")
        return row

    async def view(conn, row):
        return _view(row, await history(conn, transaction_id, handlers.ROLE))

    return await read_until(request, transaction_id, load, view, until, wait)


async def _act(request: Request, transaction_id: str, work) -> dict[str, Any]:
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        row = await work(conn)
        return _view(row, await history(conn, transaction_id, handlers.ROLE))


@router.post(
    "/{transaction_id}/will-supply",
    response_model=LendingView,
    responses=STEP_REFUSED,
    summary="Accept: hold a copy AVAILABLE here (HKALL-02) and answer WillSupply",
)
async def will_supply(
    transaction_id: TransactionId, body: WillSupply, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: handlers.will_supply(
            conn, lib, transaction_id, barcode=body.barcode, actor=_actor(principal)
        ),
    )


@router.post(
    "/{transaction_id}/unfilled",
    response_model=LendingView,
    responses=STEP_REFUSED,
    summary="Decline with the reason (and the rule, if one refuses)",
)
async def unfilled(
    transaction_id: TransactionId, body: Unfilled, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: handlers.unfilled(
            conn, lib, transaction_id, reason=body.reason, rule=body.rule, actor=_actor(principal)
        ),
    )


@router.post(
    "/{transaction_id}/ship",
    response_model=LendingView,
    responses=STEP_REFUSED,
    summary="Ship the copy: ON_ILL_LOAN, Loaned with the loan terms (HKALL-08, MALA-04)",
)
async def ship(
    transaction_id: TransactionId, body: Ship, request: Request, principal: CurrentPrincipal
):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: handlers.ship(
            conn, lib, transaction_id, barcode=body.barcode, actor=_actor(principal)
        ),
    )


@router.post(
    "/{transaction_id}/check-in",
    response_model=LendingView,
    responses=STEP_REFUSED,
    summary="The copy is back: AVAILABLE again, LoanCompleted",
)
async def check_in(transaction_id: TransactionId, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: handlers.check_in(conn, lib, transaction_id, actor=_actor(principal)),
    )


@router.post(
    "/{transaction_id}/recall",
    response_model=LendingView,
    responses=STEP_REFUSED,
    summary="Recall the copy: due by the policy's date, never inside the minimum use period "
    "(HKALL-11, MALA-06); the borrower is e-mailed by the home library",
)
async def recall(transaction_id: TransactionId, request: Request, principal: CurrentPrincipal):
    lib = staff(request, principal)
    return await _act(
        request,
        transaction_id,
        lambda conn: ill_lending_loan.recall(conn, lib, transaction_id, actor=_actor(principal)),
    )
