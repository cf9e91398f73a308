"""``/api/v1/records``: one record with its holdings; bulk loads from member libraries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from libs.common.auth import CurrentPrincipal, Principal
from libs.common.db import reading
from libs.common.errors import Problem
from libs.common.limits import BIGINT_MAX
from services.catalog.adapters.repository import get_record, load_results
from services.catalog.api.caller import (
    federation_of,
    optional_principal,
    require_loader,
    searching_patron,
)
from services.catalog.api.idempotent import PostOnce
from services.catalog.api.payloads import (
    PROBLEMS,
    LoadReportOut,
    RecordOut,
    record_json,
    report_json,
)
from services.catalog.api.uploads import ACCEPTED, parse_upload, read_upload
from services.catalog.domain.model import BibRecord

router = APIRouter(prefix="/api/v1/records", tags=["catalogue"])
# Record ids are 64-bit; a larger number in the path is simply not found.
MAX_ID = BIGINT_MAX
SHOWN_OFFENDERS = 10


@router.get(
    "/{record_id}",
    summary="One record with every library's holdings",
    response_model=None,
    responses={200: {"model": RecordOut}, **PROBLEMS},
)
async def read_record(
    request: Request,
    record_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: Annotated[Principal | None, Depends(optional_principal)],
    home_library: Annotated[str | None, Query(max_length=40)] = None,
) -> JSONResponse:
    """With a home library (from the token or ``home_library``), whether its patrons may
    request the title and every rule that refuses it."""
    patron = searching_patron(request, principal, home_library)
    # Read without a transaction: a request placed and then routed looks its record up here,
    # twice a loan, and a mirror's record and holdings need no common snapshot.
    async with reading(request.app.state.runtime.engine) as conn:
        record = await get_record(conn, record_id, patron=patron)
    if record is None:
        raise Problem(404, "not-found", "Not found", f"no record {record_id}")
    return JSONResponse(record_json(record))


def _check_own_holdings(principal: Principal, results: list, members: set[str]) -> None:
    """A library loads only its own holdings. A holding at a library outside the federation
    is nobody's: that record is rejected with its reason, like any other bad record."""
    offenders = [
        (r.position if r.position is not None else i, sorted(others))
        for i, r in enumerate(results)
        if isinstance(r, BibRecord)
        and (others := ({h.library for h in r.holdings} & members) - {principal.library})
    ]
    if offenders:
        shown = "; ".join(
            f"record #{pos}: {', '.join(libs)}" for pos, libs in offenders[:SHOWN_OFFENDERS]
        )
        more = len(offenders) - SHOWN_OFFENDERS
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            f"{principal.subject} may load only its own holdings; other libraries' holdings "
            f"in {shown}" + (f" and {more} more records" if more > 0 else "") + ". Nothing was "
            "loaded.",
            records=[pos for pos, _ in offenders],
        )


@router.post(
    "",
    summary="Load records with their holdings (JSON, JSON Lines, MARC21, MARCXML)",
    response_model=None,
    responses={200: {"model": LoadReportOut}, **PROBLEMS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {}} for kind in ACCEPTED},
        }
    },
)
async def load(
    request: Request,
    principal: CurrentPrincipal,
    post: PostOnce,
) -> JSONResponse:
    """Each work becomes one record (merged with the same work already catalogued) and each
    item a holding. Records that cannot be loaded are rejected with their position and reason;
    the rest are loaded. A library may load only its own holdings. Loading the same items
    again updates them rather than adding copies; with an ``Idempotency-Key``, a retry of the
    same body is answered with the first report and loads nothing."""
    require_loader(principal)
    upload = await read_upload(request)
    once = post.once(hashed=upload.request_hash(request.url.path))
    if (answer := await once.prior()) is not None:
        return answer
    results = await parse_upload(upload)
    members = {lib.code: lib.consortium for lib in federation_of(request).libraries}
    _check_own_holdings(principal, results, set(members))

    async def _load(conn):
        return report_json(await load_results(conn, results, members=members))

    return await once.run(_load)
