"""Who may change what, for every route that changes something, in every service.

Each mutating route (POST, PUT, PATCH, DELETE), taken from the app's own route table so that a
new route is covered without touching this file, is called by five callers: the owner, another
library, an operator, a patron and no token at all. Only the owner gets past authorisation
(its request may still be refused as invalid or not found: anything but 401 and 403); no
token is a 401; everyone else a 403. Operators look at everything but change nothing of a
library's; the broker's and the notifier's own routes (dead letters) belong to operators.

The few routes meant for callers without a library's token are listed in ``OPEN`` with why.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.routing import APIRoute

from tests.integration.api.services import BACKENDS, bearer, service_client

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

#: routes every caller may reach, and why
OPEN = {
    "POST /api/v1/auth/token": "client credentials are exchanged here for a token",
    "POST /api/v1/patron-sessions": "a patron signs in here, before having any token",
    "DELETE /api/v1/patron-sessions/current": "a signed-in patron signs out of their own session",
}
#: routes under this prefix belong to the signed-in patron (their own account), not staff
PATRON_OWNED = "/api/v1/me"

# Whose each service's routes are: a library's own circulation and catalogue holdings are the
# library's; dead letters and notices are the operators'.
OWNER = {
    "circulation-cityu": ("library", "cityu"),
    "catalog": ("library", "cityu"),
    "requests": ("operator", None),
    "notifier": ("operator", None),
}
CALLERS = {
    "the owner library": ("library", "cityu"),
    "another library": ("library", "hkbu"),
    "an operator": ("operator", None),
    "a patron": ("patron", "cityu"),
    "no token": None,
}

# A record of the owner's holdings: what another library or an operator must not load.
CITYU_RECORD = [
    {
        "id": "cityu-m1",
        "title": "Urban planning in Kowloon",
        "holdings": [{"library": "cityu", "item_id": "cu-m1", "service_point": "main"}],
    }
]
BODIES = {
    ("catalog", "POST /api/v1/records"): CITYU_RECORD,
    # Valid bodies, so that the owner gets past validation to the work itself (a card or a
    # transaction nobody has: 404), and everyone else is refused before the body is read.
    ("circulation-cityu", "POST /api/v1/ill/borrowing"): {
        "record_id": 1,
        "pickup_location": "main",
        "card_number": "NOCARD01",
    },
    ("circulation-cityu", "POST /api/v1/ill/borrowing/{transaction_id}/receive"): {
        "service_point": "main"
    },
    ("circulation-cityu", "POST /api/v1/ill/lending/{transaction_id}/will-supply"): {},
    ("circulation-cityu", "POST /api/v1/ill/lending/{transaction_id}/unfilled"): {
        "reason": "the copy is at the bindery"
    },
    ("circulation-cityu", "POST /api/v1/ill/lending/{transaction_id}/ship"): {"barcode": "CU0001"},
}


def _declared(routes) -> set[tuple[str, str]]:
    """Every route of a route table, also those left out of the OpenAPI document, through the
    routers the app includes (which keep their full paths)."""
    found = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(m, route.path) for m in route.methods}
        included = getattr(route, "original_router", None)
        if included is not None:
            found |= _declared(included.routes)
    return found


def mutating_routes(app) -> list[tuple[str, str]]:
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    return sorted(
        (method, path)
        for method, path in documented | _declared(app.routes)
        if method in MUTATING
        and f"{method} {path}" not in OPEN
        and not path.startswith(PATRON_OWNED)
    )


async def signed_in_patron(client) -> dict[str, str]:
    staff = {**bearer(client, "library", "cityu"), "Content-Type": "application/json"}
    card, secret = "CU0000001", "s3cret-pass"
    registration = {
        "category": "student",
        "name_en": "Chan Tai Man",
        "date_of_birth": "2001-04-01",
        "address": {"lines": ["83 Tat Chee Avenue"], "district": "Kowloon Tong"},
        "email": "chan.taiman@example.hk",
        "phone": "+852 9123 4567",
        "card_number": card,
        "password": secret,
    }
    res = await client.post("/api/v1/patrons", content=json.dumps(registration), headers=staff)
    assert res.status_code == 201, res.text
    res = await client.post("/api/v1/patron-sessions", json={"identifier": card, "secret": secret})
    assert res.status_code == 201, res.text
    # Sign-in also sets the session cookie; the other callers must not send it along.
    client.cookies.clear()
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def expected(caller: str, owner: tuple[str, str | None]) -> str:
    if CALLERS[caller] is None:
        return "401"
    return "passes" if CALLERS[caller] == owner else "403"


def outcome(status: int) -> str:
    return str(status) if status in (401, 403) else "passes"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", sorted(OWNER))
async def test_only_the_owner_may_change_anything(key, backend, tmp_path):
    async with service_client(key, backend, tmp_path) as client:
        routes = mutating_routes(client.app)
        if key == "circulation-cityu":
            assert ("POST", "/api/v1/items") in routes and ("POST", "/api/v1/patrons") in routes
            # The exceptions still name real routes (a stale entry would say nothing).
            every = {f"{m} {p}" for m, p in _declared(client.app.routes)}
            assert set(OPEN) <= every
            assert any(
                p.startswith(PATRON_OWNED) and m in MUTATING
                for m, p in _declared(client.app.routes)
            )
            # The inter-library loan staff routes of both sides are in the matrix, and each
            # body given above names a route that exists.
            assert ("POST", "/api/v1/ill/borrowing/{transaction_id}/ship-back") in routes
            assert ("POST", "/api/v1/ill/lending/{transaction_id}/check-in") in routes
            named = {tuple(k.split(" ", 1)) for (unit, k) in BODIES if unit == key}
            assert named <= set(routes)
        if key == "catalog":
            assert ("POST", "/api/v1/records") in routes
        if key == "requests":
            assert ("POST", "/api/v1/dead-letters/{dl_id}/replay") in routes
        # A patron's token is good only while its session lives: sign a real patron in.
        patron_headers = await signed_in_patron(client) if key == "circulation-cityu" else None
        wrong = []
        for method, path in routes:
            url = re.sub(r"\{[^}]+\}", "1", path)
            body = BODIES.get((key, f"{method} {path}"), {})
            for caller, who in CALLERS.items():
                headers = {"Content-Type": "application/json"}
                if who is not None and who[0] == "patron" and patron_headers is not None:
                    headers |= patron_headers
                elif who is not None:
                    headers |= bearer(
                        client, who[0], who[1], subject="p-1" if who[0] == "patron" else ""
                    )
                res = await client.request(method, url, content=json.dumps(body), headers=headers)
                want, got = expected(caller, OWNER[key]), outcome(res.status_code)
                if got != want:
                    wrong.append(f"{method} {path} by {caller}: {res.status_code}, expected {want}")
                given = (key, f"{method} {path}") in BODIES
                if want == "passes" and given and res.status_code == 422:
                    wrong.append(f"{method} {path}: the body given here is invalid: {res.text}")
                if res.status_code in (401, 403):
                    assert res.headers["content-type"].startswith("application/problem+json")
        assert not wrong, "\n".join(wrong)
