"""Inter-library loan requests of this library's patrons (the requester's side, ILL.md): the
patron asks (``/me/ill-requests``, with a dry run that says whether it would be accepted and
which rules refuse it), sees the status and history, and cancels before shipping; staff ask
on a patron's behalf, list requests by state, receive the lender's item, check it out to the
patron, and ship it back (``/ill/borrowing``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.auth import CurrentPrincipal
from libs.common.catalogue_client import CatalogueClient, CatalogueUnavailable
from libs.common.changes import WaitSeconds
from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.limits import BIGINT_MAX
from services.circulation.adapters import ill_borrowing_repo, patrons_repo
from services.circulation.api.common import (
    PostOnce,
    library_staff,
    read_only,
    read_until,
    signed_in_patron,
    staff,
)
from services.circulation.api.ill_views import (
    IllDecisionView,
    IllRequestDetail,
    IllRequestList,
    IllRequestPage,
    IllRequestView,
)
from services.circulation.domain.ill_borrowing import CatalogueRecord
from services.circulation.domain.ill_requester import RequesterState
from services.circulation.handlers import ill_borrowing as handlers
from services.circulation.handlers.context import Library, NotFound

TAGS: list = ["inter-library loans (borrowing)"]
router = APIRouter(prefix="/api/v1", tags=TAGS)
staff_router = APIRouter(
    prefix="/api/v1/ill/borrowing", tags=TAGS, dependencies=[Depends(library_staff)]
)
MAX_PAGE = 100
TransactionId = Annotated[
    str, Path(min_length=1, max_length=64, description="the ILL transaction's id")
]
#: the problem documents the routes answer with, besides those every route of its shape has
NOT_FOUND = {404: {"description": "no such request (a patron sees only their own)"}}
STEP_REFUSED = {
    **NOT_FOUND,
    409: {"description": "the request's state does not allow this step (it names the state)"},
}
REQUEST_ERRORS: dict = {
    404: {"description": "no such record in the union catalogue, or no such patron"},
    409: {
        "description": "refused: the problem names every rule (HKALL-01..09, MALA-…), or "
        "a duplicate of an open request"
    },
    503: {"description": "the union catalogue is away: nothing was requested, try again"},
}
DRY_RUN = {
    200: {
        "model": IllDecisionView,
        "description": "dry run: whether it would be accepted, with the rules refusing",
    }
}


class IllRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: int = Field(ge=1, le=BIGINT_MAX, description="the union catalogue's record id")
    pickup_location: str = Field(min_length=1, max_length=32, description="a service point")
    needed_by: date | None = None


class StaffIllRequestIn(IllRequestIn):
    card_number: str | None = Field(default=None, min_length=1, max_length=20)
    patron_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_patron(self) -> StaffIllRequestIn:
        if (self.card_number is None) == (self.patron_id is None):
            raise ValueError("give the patron's card_number or patron_id (one of them)")
        return self


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_point: str = Field(min_length=1, max_length=32)


#: ``?until=``: the states a GET waits for (with ``wait``)
UntilStates = Annotated[
    list[RequesterState] | None,
    Query(description="Answer once the request is in one of these states (see `wait`)."),
]


def _catalogue(request: Request) -> CatalogueClient:
    catalogue = request.app.state.runtime.extras.get("catalogue")
    if not isinstance(catalogue, CatalogueClient):  # pragma: no cover - build_runtime sets it
        raise RuntimeError("the circulation runtime has no catalogue client")
    return catalogue


def _away(exc: Exception) -> Problem:
    return Problem(
        503,
        "catalogue-unavailable",
        "The union catalogue is not answering",
        "the record could not be looked up in the union catalogue just now; nothing was "
        "requested: please try again in a few minutes",
    )


async def _record(request: Request, lib: Library, record_id: int) -> CatalogueRecord:
    try:
        return await handlers.lookup_record(_catalogue(request), lib, record_id)
    except CatalogueUnavailable as exc:
        raise _away(exc) from exc


async def _ask(
    request: Request,
    lib: Library,
    patron_id: str,
    body: IllRequestIn,
    post: PostOnce,
    *,
    actor: str,
    dry_run: bool,
):
    if dry_run:
        record = await _record(request, lib, body.record_id)

        async def preview(conn):
            decision = await handlers.dry_run(
                conn,
                lib,
                patron_id,
                record,
                pickup_location=body.pickup_location,
                needed_by=body.needed_by,
            )
            return handlers.decision_view(decision)

        # A dry run creates nothing: 200, not 201.
        return JSONResponse(jsonable_encoder(await read_only(request, preview)), status_code=200)
    once = post.once(body.model_dump(mode="json"))
    if (answer := await once.prior()) is not None:
        return answer
    # Asked before the transaction opens: no lock is held while the catalogue answers.
    record = await _record(request, lib, body.record_id)

    async def work(conn):
        row = await handlers.place_request(
            conn,
            lib,
            patron_id,
            record,
            pickup_location=body.pickup_location,
            needed_by=body.needed_by,
            actor=actor,
        )
        return handlers.request_view(row)

    return await once.run(work, 201)


DryRun = Annotated[
    bool, Query(description="only say whether the request would be accepted, and why not")
]


@router.post(
    "/me/ill-requests",
    status_code=201,
    response_model=IllRequestView,
    summary="Request a title from another library of the consortium",
    responses={**DRY_RUN, **REQUEST_ERRORS},
)
async def my_request(
    body: IllRequestIn,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
    dry_run: DryRun = False,
):
    lib, patron_id = signed_in_patron(request, principal)
    return await _ask(
        request, lib, patron_id, body, post, actor=f"patron:{patron_id}", dry_run=dry_run
    )


@router.get(
    "/me/ill-requests",
    response_model=IllRequestList,
    summary="My inter-library loan requests and their status",
)
async def my_requests(request: Request, principal: CurrentPrincipal):
    _, patron_id = signed_in_patron(request, principal)

    async def work(conn):
        rows = await ill_borrowing_repo.for_patron(conn, patron_id)
        return {"requests": [handlers.request_view(r) for r in rows]}

    return await read_only(request, work)


@router.get(
    "/me/ill-requests/{transaction_id}",
    response_model=IllRequestDetail,
    summary="One of my requests, with its history",
    responses=NOT_FOUND,
)
async def my_request_detail(
    transaction_id: TransactionId,
    request: Request,
    principal: CurrentPrincipal,
    until: UntilStates = None,
    wait: WaitSeconds = 0,
):
    _, patron_id = signed_in_patron(request, principal)
    return await read_until(
        request,
        transaction_id,
        lambda conn: handlers.one_request(conn, transaction_id, patron_id=patron_id),
        handlers.with_history,
        until,
        wait,
    )


@router.post(
    "/me/ill-requests/{transaction_id}/cancel",
    response_model=IllRequestView,
    summary="Cancel my request (before the lender ships it)",
    responses=STEP_REFUSED,
)
async def my_cancel(transaction_id: TransactionId, request: Request, principal: CurrentPrincipal):
    lib, patron_id = signed_in_patron(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        row = await handlers.cancel(
            conn, lib, transaction_id, actor=f"patron:{patron_id}", patron_id=patron_id
        )
    return handlers.request_view(row)


# ---------------------------------------------------------------------------------- staff


@staff_router.post(
    "",
    status_code=201,
    response_model=IllRequestView,
    summary="Request a title for a patron (by card number or patron id)",
    responses={**DRY_RUN, **REQUEST_ERRORS},
)
async def staff_request(
    body: StaffIllRequestIn,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
    dry_run: DryRun = False,
):
    lib = staff(request, principal)
    patron_id = body.patron_id
    if body.card_number is not None:
        async with request.app.state.runtime.engine.connect() as conn:
            patron_id = await patrons_repo.card_owner(conn, body.card_number.strip().upper())
        if patron_id is None:
            raise NotFound(f"no library card {body.card_number}")
    assert patron_id is not None
    return await _ask(
        request,
        lib,
        patron_id,
        body,
        post,
        actor=f"staff:{principal.subject}",
        dry_run=dry_run,
    )


@staff_router.get(
    "", response_model=IllRequestPage, summary="This library's patrons' requests, by state"
)
async def staff_list(
    request: Request,
    principal: CurrentPrincipal,
    state: RequesterState | None = None,
    cursor: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
):
    staff(request, principal)

    async def work(conn) -> dict[str, Any]:
        rows = await ill_borrowing_repo.listing(
            conn, state=state.value if state else None, after=cursor, limit=limit
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "requests": [handlers.request_view(r) for r in rows],
            "next_cursor": rows[-1]["transaction_id"] if more and rows else None,
        }

    return await read_only(request, work)


@staff_router.get(
    "/{transaction_id}",
    response_model=IllRequestDetail,
    summary="One request, with its history",
    responses=NOT_FOUND,
)
async def staff_detail(
    transaction_id: TransactionId,
    request: Request,
    principal: CurrentPrincipal,
    until: UntilStates = None,
    wait: WaitSeconds = 0,
):
    staff(request, principal)
    return await read_until(
        request,
        transaction_id,
        lambda conn: handlers.one_request(conn, transaction_id),
        handlers.with_history,
        until,
        wait,
    )


async def staff_action(request: Request, principal, step) -> dict:
    lib = staff(request, principal)
    async with unit_of_work(request.app.state.runtime.engine) as conn:
        row = await step(conn, lib, f"staff:{principal.subject}")
    return handlers.request_view(row)


@staff_router.post(
    "/{transaction_id}/cancel",
    response_model=IllRequestView,
    summary="Cancel before shipping",
    responses=STEP_REFUSED,
)
async def staff_cancel(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: handlers.cancel(conn, lib, transaction_id, actor=actor),
    )


@staff_router.post(
    "/{transaction_id}/receive",
    response_model=IllRequestView,
    summary="The lender's item arrived at a service point: the patron is told (HKALL-05)",
    responses=STEP_REFUSED,
)
async def staff_receive(
    transaction_id: TransactionId, body: ReceiveIn, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: handlers.receive(
            conn, lib, transaction_id, service_point=body.service_point, actor=actor
        ),
    )


@staff_router.post(
    "/{transaction_id}/checkout",
    response_model=IllRequestView,
    summary="The patron collects the item: a loan on the lender's terms",
    responses={
        **NOT_FOUND,
        409: {
            "description": "not waiting for pickup, or the patron's account is suspended "
            "(the problem names the rule: HKALL-18/19, MALA-10…)"
        },
    },
)
async def staff_checkout(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: handlers.checkout(conn, lib, transaction_id, actor=actor),
    )


@staff_router.post(
    "/{transaction_id}/ship-back",
    response_model=IllRequestView,
    summary="Ship the item back to the lender (returned, or not picked up)",
    responses=STEP_REFUSED,
)
async def staff_ship_back(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: handlers.ship_back(conn, lib, transaction_id, actor=actor),
    )


@staff_router.post(
    "/{transaction_id}/recall",
    response_model=IllRequestView,
    summary="Refused: only the lending library recalls its item (HKALL-10)",
    responses=STEP_REFUSED,
)
async def staff_recall(
    transaction_id: TransactionId, request: Request, principal: CurrentPrincipal
):
    return await staff_action(
        request,
        principal,
        lambda conn, lib, actor: handlers.recall_here(conn, lib, transaction_id),
    )
