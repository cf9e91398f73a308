"""``/api/v1/transactions``: the consortium's view of every ILL transaction, for operators
(all of them) and member libraries (only those they are party to: the requester, or the
lender holding the request now), with what is stuck and which party it waits for."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from libs.common import changes
from libs.common.auth import CurrentPrincipal, Principal, forbidden
from libs.common.db import reading
from libs.common.errors import Problem
from libs.common.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from services.requests.adapters import transactions as repo
from services.requests.domain.broker import BrokerState, answer_due, stuck
from services.requests.domain.routing import pseudonym

router = APIRouter(prefix="/api/v1/transactions", tags=["transactions"])
STATE_PATTERN = "^(" + "|".join(s.value for s in BrokerState) + ")$"


class LenderTried(BaseModel):
    lender: str
    outcome: str
    asked_at: datetime
    answered_at: datetime | None


class StuckOut(BaseModel):
    stuck: bool
    waiting_for: str | None
    party: str | None
    since: datetime


class TransactionOut(BaseModel):
    id: str
    requester: str
    pickup_location: str
    patron_ref: str
    patron_category: str
    consortium: str
    record_id: int
    record_title: str
    state: str
    current_lender: str | None
    lenders_tried: list[LenderTried]
    asked_at: datetime | None
    answer_due: datetime | None
    flags: list[str]
    created_at: datetime
    updated_at: datetime
    stuck: StuckOut


class HistoryOut(BaseModel):
    id: int
    at: datetime
    side: str
    from_state: str | None
    to_state: str | None
    message_type: str | None
    status: str | None
    action: str | None
    message_id: str | None
    actor: str
    refused: str | None
    detail: str | None


class SidesOut(BaseModel):
    requester: list[HistoryOut]
    supplier: list[HistoryOut]
    broker: list[HistoryOut]


class TransactionDetail(TransactionOut):
    history: list[HistoryOut]
    sides: SidesOut


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_cursor: str | None


def _party(principal: Principal) -> str | None:
    """The library whose transactions the caller may see; None for an operator (all)."""
    if principal.is_operator:
        return None
    if principal.role != "library" or not principal.library:
        raise forbidden("only member libraries and consortium operators see ILL transactions")
    return principal.library


def _out(
    row: dict[str, Any], now: datetime, viewer: str | None, answer_hours: dict[str, int]
) -> dict[str, Any]:
    view = repo.view_of(row)
    hours = answer_hours.get(row["consortium"])
    ref = row["patron_ref"]
    if viewer is not None and viewer != row["requester"]:
        ref = pseudonym(ref, viewer)  # a lender sees only the reference it was sent
    return {
        **{k: row[k] for k in TransactionOut.model_fields if k in row},
        "patron_ref": ref,
        "lenders_tried": row["lenders_tried"] or [],
        "flags": row["flags"] or [],
        "answer_due": answer_due(view, hours) if hours else None,
        "stuck": stuck(
            row["state"], row["updated_at"], now, row["current_lender"], row["requester"]
        ).__dict__,
    }


@router.get("", response_model=TransactionPage, summary="ILL transactions, filtered")
async def list_transactions(
    request: Request,
    principal: CurrentPrincipal,
    library: str | None = Query(default=None, max_length=40, description="a party to it"),
    state: list[str] | None = Query(default=None, description="one or more broker states"),
    stuck_only: bool = Query(default=False, alias="stuck", description="only stuck ones"),
    cursor: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
):
    """Operators see every transaction; a library only those it is requester or current
    lender of (asking for another library's is refused)."""
    party = _party(principal)
    if party is not None and library is not None and library != party:
        raise forbidden(f"{principal.subject} may not look at {library}'s transactions")
    for s in state or []:
        if s not in BrokerState.__members__:
            raise Problem(422, "invalid-state", "Unknown state", f"no broker state {s!r}")
    rt = request.app.state.runtime
    now = rt.clock.now()
    async with rt.engine.connect() as conn:
        page = await repo.list_transactions(
            conn,
            party=party or library,
            states=state,
            stuck_at=now if stuck_only else None,
            after=cursor,
            limit=limit,
        )
    return {
        "items": [_out(r, now, party, rt.extras["broker"].answer_hours) for r in page.items],
        "next_cursor": page.next_cursor,
    }


class _NotFound(Problem):
    """The transaction is not (yet) known to this caller."""


@router.get(
    "/{transaction_id}",
    response_model=TransactionDetail,
    summary="One ILL transaction: the broker's view and its full history",
)
async def read_transaction(
    request: Request,
    principal: CurrentPrincipal,
    transaction_id: Annotated[str, Path(min_length=1, max_length=64)],
    until: Annotated[
        list[BrokerState] | None,
        Query(description="Answer once the transaction is in one of these states (see `wait`)."),
    ] = None,
    wait: changes.WaitSeconds = 0,
):
    """The history holds every message the broker heard from either side, every message it
    sent, and every step it took, in order; ``sides`` splits it by who spoke."""
    party = _party(principal)
    rt = request.app.state.runtime

    async def read() -> dict[str, Any]:
        # Two reads, no transaction around them: a step between them shows in the history a
        # moment before in the state.
        async with reading(rt.engine) as conn:
            row = await repo.get(conn, transaction_id)
            if row is None or (
                party is not None and party not in (row["requester"], row["current_lender"])
            ):
                # another library's transaction is not found for this caller, not forbidden:
                # whether it exists is none of its business
                raise _NotFound(404, "not-found", "Not found", f"no transaction {transaction_id}")
            history = await repo.history(conn, transaction_id)
        out = _out(row, rt.clock.now(), party, rt.extras["broker"].answer_hours)
        sides: dict[str, list] = {"requester": [], "supplier": [], "broker": []}
        for h in history:
            sides.setdefault(h["side"], []).append(h)
        return {**out, "history": history, "sides": sides}

    return await changes.until(
        rt.changes,
        changes.ill_transaction(transaction_id),
        read,
        lambda view: str(view["state"]),
        frozenset(str(s) for s in until or ()),
        wait,
        missing=(_NotFound,),
    )
