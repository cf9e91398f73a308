"""What the circulation handlers' errors mean, as the problem a page shows (the same words
and rule IDs the API answers with)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError

from libs.common.catalogue_client import CatalogueUnavailable
from libs.common.errors import Problem, refusal_problem
from libs.common.policy import ChargeError
from services.circulation.domain.errors import DomainError
from services.circulation.handlers.context import Invalid, NotFound, Refused


def _refused(exc: Refused) -> Problem:
    return refusal_problem(exc.decision, exc.status)


def _conflict(exc: DomainError) -> Problem:
    return Problem(409, exc.code.replace("_", "-"), "This cannot be done now", str(exc))


def _away(exc: Exception) -> Problem:
    return Problem(
        503,
        "catalogue-unavailable",
        "The union catalogue is not answering",
        "nothing was requested: please try again in a few minutes",
    )


def _bad_query(exc: httpx.HTTPStatusError) -> Problem:
    try:
        detail = exc.response.json().get("detail")
    except ValueError:
        detail = None
    return Problem(422, "invalid-query", "The search cannot be run", detail)


def _twice(exc: IntegrityError) -> Problem:
    # Two sends of one form raced: the other one did the work.
    return Problem(409, "sent-twice", "This form was already sent", "reload the page to see it")


ERRORS: dict[type[Exception], Any] = {
    IntegrityError: _twice,
    Refused: _refused,
    NotFound: lambda exc: Problem(404, "not-found", "Not found", exc.what),
    Invalid: lambda exc: Problem(422, "invalid", "This cannot be carried out", str(exc)),
    ChargeError: lambda exc: Problem(
        422, "invalid-charge", "The charge cannot be computed", str(exc)
    ),
    DomainError: _conflict,
    CatalogueUnavailable: _away,
    httpx.HTTPStatusError: _bad_query,
}
