"""What the pages show of the handlers' views: money in words, an ILL request with whether
its renewal waits for the lender, a loan with the ILL request it came from."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import items_repo, loans_repo
from services.circulation.handlers import ill_borrowing as ill

#: the requester's states in which the item is here or with the patron
HERE = ("AwaitingPickup", "CheckedOut", "Returned", "NotPickedUp")


def money(minor: int | None, currency: str) -> str:
    """Integer minor units as the patron reads them: ``HKD 12.50``."""
    minor = minor or 0
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{currency} {sign}{whole}.{cents:02d}"


def request_row(row: dict[str, Any]) -> dict[str, Any]:
    """An ILL request as the pages list it. ``renewal_pending``: a renewal the home library
    sent on to the lender and the lender has not answered (HKALL-13), when the request
    keeps a ``renewal_state``."""
    if not row:
        return {}
    view = ill.request_view(row)
    view["renewal_pending"] = row.get("renewal_state") == "pending"
    view["renewal_state"] = row.get("renewal_state")
    # the lender's answer to a renewal it refused: the rule and its reason
    view["renewal_rule"] = row.get("renewal_rule")
    view["renewal_reason"] = row.get("renewal_reason")
    # HKALL-11, MALA-06: the lender recalled its item; the loan is due by the date it gave
    view["recalled_on"] = row.get("recalled_on")
    return view


def loan_row(loan: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    return {
        **loan,
        "ill": request is not None,
        "lender": request["lender"] if request else None,
        "renewal_pending": bool(request and request.get("renewal_pending")),
        "renewal_state": request.get("renewal_state") if request else None,
        "renewal_reason": request.get("renewal_reason") if request else None,
        "renewal_rule": request.get("renewal_rule") if request else None,
        "recalled_on": request.get("recalled_on") if request else None,
        "transaction_id": request["transaction_id"] if request else None,
    }


async def renewal_references(conn: AsyncConnection, patron_id: str) -> list[str]:
    """HKPL-06: the patron's Transaction Reference Numbers, newest first."""
    return await loans_repo.renewal_references(conn, patron_id, limit=10)


async def hold_titles(conn: AsyncConnection, holds: list[dict[str, Any]]) -> dict[str, str]:
    """The title of each reserved title id, as its copies here name it."""
    titles: dict[str, str] = {}
    for hold in holds:
        rows = await items_repo.title_rows(conn, hold["title_id"])
        if rows and rows[0].title:
            titles[hold["title_id"]] = rows[0].title
    return titles
