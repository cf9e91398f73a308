"""Staff and library-system routes for the library's items. Thin: validate, authorise, one
unit of work, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.auth import CurrentPrincipal, require_library, require_owner
from libs.common.db import unit_of_work
from libs.common.errors import Problem
from libs.common.items import ItemStatus, MaterialType
from services.circulation.adapters import items_repo
from services.circulation.api.common import PostOnce, lib_of
from services.circulation.domain.items import (
    CIRCULATION_STATUSES,
    MANUAL_SOURCES,
    main_item_refusal,
    manual_status_refusal,
)


async def _caller(request: Request, principal: CurrentPrincipal) -> None:
    """Operators may look at the library's items; only the library itself changes them.
    Checked before the body is read, so a caller who may not act gets a 403, not a 422.
    Async, as every dependency of a request path: FastAPI runs a plain function in its
    thread pool, a thread hop per request for a check that never blocks."""
    library = request.app.state.runtime.library.code
    if request.method in ("GET", "HEAD"):
        require_library(principal, library)
    else:
        require_owner(principal, library)


router = APIRouter(prefix="/api/v1/items", tags=["items"], dependencies=[Depends(_caller)])


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    barcode: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=500)
    authors: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=20)
    isbn: str | None = Field(default=None, max_length=20)
    language: str | None = Field(default=None, max_length=12)
    publisher: str | None = Field(default=None, max_length=200)
    year: int | None = Field(default=None, ge=1000, le=2100)
    material_type: MaterialType
    section: Literal["adult", "young_adult", "children"] = "adult"
    service_point: str = Field(min_length=1, max_length=32)
    call_number: str | None = Field(default=None, max_length=64)
    # Bounded like a loss charge's replacement cost: the stored columns are 32-bit on
    # PostgreSQL, and a lost item's charge (price plus its surcharge) must still fit.
    price_minor: int | None = Field(default=None, ge=0, le=100_000_000)
    pages: int | None = Field(default=None, ge=1, le=100_000)
    set_id: str | None = Field(default=None, max_length=64)
    title_id: str | None = Field(
        default=None, max_length=64, description="the work reservations queue on (default ISBN)"
    )
    main_item_id: str | None = Field(
        default=None, max_length=64, description="for accompanying material: its set's main item"
    )

    @model_validator(mode="after")
    def _accompanying_in_a_set(self) -> ItemIn:
        # HKPL-05: accompanying material is part of a set, never on its own.
        if self.main_item_id is not None and self.set_id is None:
            raise ValueError("accompanying material (main_item_id) needs the set's set_id")
        return self


class ItemOut(ItemIn):
    model_config = ConfigDict(extra="ignore")
    id: str
    status: ItemStatus
    version: int
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ItemStatus


def _rt(request: Request):
    return request.app.state.runtime


async def _check_main_item(conn, request: Request, body: ItemIn) -> None:
    """HKPL-09, decided in the domain: the main item accompanying material names."""
    if body.main_item_id is None or body.set_id is None:
        return  # the body's own validation already refused a main item without a set
    lib = lib_of(request)
    row = await items_repo.find_item_row(conn, item_id=body.main_item_id)
    main = items_repo.item_of(row, lib.code, lib.policy.currency) if row else None
    refusal = main_item_refusal(body.set_id, body.main_item_id, main)
    if refusal is not None:
        raise Problem(
            422,
            "invalid-main-item",
            "The accompanying material's main item is not valid",
            refusal.reason,
            rules=[refusal.rule],
        )


@router.post(
    "", status_code=201, response_model=ItemOut, summary="Add an item to the library's collection"
)
async def add_item(
    body: ItemIn,
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
):
    rt = _rt(request)
    library = rt.library.code
    require_owner(principal, library)

    async def work(conn):
        if await items_repo.find_by_barcode(conn, body.barcode):
            raise Problem(
                409,
                "duplicate-barcode",
                "Barcode already in use",
                f"an item with barcode {body.barcode} already exists",
            )
        if body.main_item_id is not None:
            await _check_main_item(conn, request, body)
        item = await items_repo.add_item(conn, library, body.model_dump(), rt.clock)
        return ItemOut.model_validate(item).model_dump(mode="json")

    return await post.run(body.model_dump(), work, 201)


@router.get("", response_model=ItemPage, summary="List items, a page at a time")
async def list_items(
    request: Request,
    principal: CurrentPrincipal,
    cursor: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=200),
):
    rt = _rt(request)
    require_library(principal, rt.library.code)
    async with rt.engine.connect() as conn:
        page = await items_repo.list_items(conn, after=cursor, limit=limit)
    return ItemPage(
        items=[ItemOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{item_id}", response_model=ItemOut)
async def get_item(item_id: str, request: Request, principal: CurrentPrincipal):
    rt = _rt(request)
    require_library(principal, rt.library.code)
    async with rt.engine.connect() as conn:
        item = await items_repo.get_item(conn, item_id)
    if item is None:
        raise Problem(404, "not-found", "Not found", f"no item {item_id}")
    return item


@router.post(
    "/{item_id}/status",
    response_model=ItemOut,
    summary="Record a status change (missing, withdrawn, in processing...)",
)
async def change_status(
    item_id: str, body: StatusChange, request: Request, principal: CurrentPrincipal
):
    rt = _rt(request)
    require_owner(principal, rt.library.code)
    async with unit_of_work(rt.engine) as conn:
        item = None
        if body.status not in CIRCULATION_STATUSES:
            # The usual case in one statement: the change happens only from a status staff
            # may change (so a loan made meanwhile is not undone), and the item is read only
            # when it did not happen, to say why.
            item = await items_repo.set_status(
                conn, rt.library.code, item_id, body.status, rt.clock, expected=MANUAL_SOURCES
            )
        if item is None:
            current = await items_repo.get_item(conn, item_id)
            if current is None:
                raise Problem(404, "not-found", "Not found", f"no item {item_id}")
            why = manual_status_refusal(current["status"], body.status) or (
                "the item was lent or reserved meanwhile; its loan or reservation moves it"
            )
            raise Problem(409, "status-not-changeable", "Status cannot be changed here", why)
    return item
