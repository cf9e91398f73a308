"""``GET /api/v1/search``: find a title anywhere in the federation (HKALL-04), and whether the
patron's home library may request it (HKALL-01/02/03, MALA-03)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from libs.common.auth import Principal
from libs.common.errors import Problem
from services.catalog.adapters.repository import search
from services.catalog.api.caller import (
    federation_of,
    optional_principal,
    searching_patron,
    unknown_library,
)
from services.catalog.api.payloads import PROBLEMS, SearchPageOut, page_json
from services.catalog.domain.query import MAX_PAGE_SIZE, InvalidQuery, Scope, SearchQuery

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


def invalid_query(exc: InvalidQuery) -> Problem:
    return Problem(422, "invalid-query", "The search cannot be run", str(exc))


@router.get(
    "/search",
    summary="Search the union catalogue",
    response_model=None,
    responses={200: {"model": SearchPageOut}, **PROBLEMS},
)
async def search_catalogue(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    q: Annotated[
        str, Query(max_length=500, description="keywords, Chinese text, an ISBN or ISSN")
    ] = "",
    material_type: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006 - FastAPI copies it
    language: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006
    library: Annotated[list[str], Query(max_length=63)] = [],  # noqa: B006
    available_now: bool = False,
    scope: Annotated[
        Scope,
        Query(description="the home library, its consortium (HKALL or MALA), or everything"),
    ] = "all",
    home_library: Annotated[
        str | None,
        Query(
            max_length=40,
            description="whose requestability to show, when no patron or library token is sent",
        ),
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """Results best first, with the total and facets (library, material type, language); each
    says, for the caller's home library, whether it may be requested and every rule that
    refuses it. Follow ``next`` for the next page."""
    patron = searching_patron(request, principal, home_library)
    if scope != "all" and patron is None:
        raise Problem(
            422,
            "home-library-required",
            "A home library is needed for this scope",
            f"scope={scope} searches your own library or consortium: send a patron or library "
            "token, or give home_library",
        )
    members = {lib.code for lib in federation_of(request).libraries}
    for code in library:
        if code not in members:
            raise unknown_library(code)
    try:
        query = SearchQuery(
            text=q,
            material_types=tuple(material_type),
            languages=tuple(language),
            libraries=tuple(library),
            available_now=available_now,
            scope=scope,
            patron=patron,
            page_size=page_size,
            cursor=cursor,
        )
        async with request.app.state.runtime.engine.connect() as conn:
            page = await search(conn, query)
    except InvalidQuery as exc:
        raise invalid_query(exc) from None
    next_url = None
    if page.next_cursor:
        next_url = str(request.url.include_query_params(cursor=page.next_cursor))
    return JSONResponse(page_json(page, patron.home_library if patron else None, next_url))
