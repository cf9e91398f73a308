"""A database that is full or away (too many clients, a connection lost) is answered 503 with
Retry-After, nothing done: the client tries again in a moment. A value the database cannot
store stays the client's 422."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from libs.common.errors import install_database_handlers, install_problem_handlers


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_database_handlers(app)

    @app.get("/fails/{sqlstate}")
    async def fails(sqlstate: str):
        raise DBAPIError("SELECT 1", {}, DriverError(sqlstate))

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path)


async def test_too_many_clients_is_503_with_retry_after():
    res = await _get("/fails/53300")
    assert res.status_code == 503
    assert res.headers["retry-after"] == "2"
    assert res.json()["type"].endswith("database-unavailable")


async def test_a_lost_connection_is_503():
    assert (await _get("/fails/08006")).status_code == 503


async def test_an_unstorable_value_is_still_the_clients_422():
    assert (await _get("/fails/22021")).status_code == 422
