"""``/api/v1/settlement/statements``: what each member library owes each other for lost and
damaged items (MALA-13), per library pair and currency over a period, as JSON or as CSV for
the libraries' finance offices. Operators see every pair; a library only the pairs it is a
party to (as the home library that owes, or as the lender owed)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from libs.common.auth import CurrentPrincipal, Principal, forbidden
from libs.common.errors import Problem
from services.requests.adapters import settlement as repo
from services.requests.domain.settlement import (
    CSV_COLUMNS,
    RULE,
    Period,
    Statement,
    csv_rows,
    net,
    statements,
    totals,
)

router = APIRouter(prefix="/api/v1/settlement", tags=["settlement"])
CSV = "text/csv"


def _library_query(description: str) -> Any:
    return Query(default=None, max_length=40, pattern="^[a-z0-9_-]+$", description=description)


class EntryOut(BaseModel):
    id: int
    transaction_id: str
    kind: str
    rule: str | None
    amount_minor: int
    currency: str
    charged_on: date
    charged_at: datetime
    collected: bool
    collected_at: datetime | None


class StatementOut(BaseModel):
    home: str
    lender: str
    currency: str
    owed_minor: int
    collected_minor: int
    outstanding_minor: int
    entries: list[EntryOut]


class TotalsOut(BaseModel):
    currency: str
    owed_minor: int
    collected_minor: int
    outstanding_minor: int


class NetOut(BaseModel):
    debtor: str
    creditor: str
    currency: str
    amount_minor: int


class StatementsOut(BaseModel):
    rule: str
    library: str | None
    counterparty: str | None
    start: date | None = Field(alias="from", description="first day, included")
    end: date | None = Field(alias="to", description="last day, included")
    statements: list[StatementOut]
    net: list[NetOut]
    totals: list[TotalsOut]


@dataclass(frozen=True)
class Asked:
    """Whose statements, for which period: what the caller asked and may see."""

    library: str | None
    counterparty: str | None
    period: Period


def _asked(
    principal: CurrentPrincipal,
    library: str | None = _library_query("a party to the pairs (a library: its own)"),
    counterparty: str | None = _library_query("the other party"),
    start: Annotated[date | None, Query(alias="from", description="first day, included")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, included")] = None,
) -> Asked:
    if start is not None and end is not None and start > end:
        raise Problem(
            422, "invalid-period", "Invalid period", f"the period ends ({end}) before it starts"
        )
    return Asked(
        library=_party(principal, library), counterparty=counterparty, period=Period(start, end)
    )


def _party(principal: Principal, library: str | None) -> str | None:
    """The library whose pairs the caller may see: any for an operator, its own for a
    library (asking for another library's is refused); nobody else."""
    if principal.is_operator:
        return library
    if principal.role != "library" or not principal.library:
        raise forbidden("only member libraries and consortium operators see settlement")
    if library is not None and library != principal.library:
        raise forbidden(f"{principal.subject} may not look at {library}'s settlement")
    return principal.library


async def _statements(request: Request, asked: Asked) -> list[Statement]:
    rt = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repo.entries(
            conn,
            library=asked.library,
            counterparty=asked.counterparty,
            start=asked.period.start,
            end=asked.period.end,
        )
    return statements(
        found, period=asked.period, library=asked.library, counterparty=asked.counterparty
    )


def _json(asked: Asked, found: list[Statement]) -> dict[str, Any]:
    return {
        "rule": RULE,
        "library": asked.library,
        "counterparty": asked.counterparty,
        "from": asked.period.start,
        "to": asked.period.end,
        "statements": [
            {
                "home": s.home,
                "lender": s.lender,
                "currency": s.currency,
                "owed_minor": s.owed_minor,
                "collected_minor": s.collected_minor,
                "outstanding_minor": s.outstanding_minor,
                "entries": [
                    {
                        "id": e.id,
                        "transaction_id": e.transaction_id,
                        "kind": e.kind,
                        "rule": e.rule,
                        "amount_minor": e.amount.amount_minor,
                        "currency": e.amount.currency,
                        "charged_on": e.charged_on,
                        "charged_at": e.charged_at,
                        "collected": e.collected,
                        "collected_at": e.collected_at,
                    }
                    for e in s.entries
                ],
            }
            for s in found
        ],
        "net": [n.__dict__ for n in net(found)],
        "totals": [t.__dict__ for t in totals(found)],
    }


def _csv(asked: Asked, found: list[Statement]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(found))
    name = "-".join(
        str(p)
        for p in (
            "settlement",
            asked.library,
            asked.counterparty,
            asked.period.start,
            asked.period.end,
        )
        if p
    )
    return Response(
        out.getvalue(),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/statements",
    response_model=StatementsOut,
    summary="Settlement statements per library pair and currency (MALA-13)",
    responses={200: {"content": {CSV: {}}}},
)
async def read_statements(request: Request, asked: Annotated[Asked, Depends(_asked)]):
    """What each home library owes each lender for lost and damaged items in the period:
    owed, collected from its patrons, and outstanding (still owed: the home library is
    liable whether or not its patron pays, MALA-13), with every entry. ``Accept: text/csv``
    answers the same as CSV, one line per entry."""
    found = await _statements(request, asked)
    if CSV in request.headers.get("accept", ""):
        return _csv(asked, found)
    return _json(asked, found)


@router.get(
    "/statements.csv",
    summary="Settlement statements as CSV, one line per entry (MALA-13)",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}},
)
async def read_statements_csv(request: Request, asked: Annotated[Asked, Depends(_asked)]):
    return _csv(asked, await _statements(request, asked))
