"""Hong Kong Public Libraries' circulation service on a migrated database, driven through
its real app, on SQLite (embedded) and on the real PostgreSQL (distributed).

Each test module gets one database per backend (on PostgreSQL ``illfed_circ_<random>``,
dropped afterwards), brought to the newest schema by the service's migrations; every test
builds its own app and clock on it and uses its own barcodes and card numbers. A test that
needs PostgreSQL fails when the server cannot be reached; it never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from deploy.queues import federation_queues
from libs.common.auth import client_secret
from libs.common.clock import ManualClock
from libs.common.db import drop_database, ensure_database, pg_url, sqlite_url
from libs.common.federation import default_federation
from libs.common.messaging.memory import MemoryBroker
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from services.circulation.adapters.tables import outbox
from services.circulation.app import create_app
from services.circulation.domain.hashing import SecretHasher
from services.circulation.domain.hkid import hkid_check_digit
from services.circulation.runtime import build_runtime

LIBRARY = "hkpl"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="pg", marks=pytest.mark.pg),
]
# Real argon2id with the cost turned down, so that sign-in tests stay fast.
CHEAP_HASHER = SecretHasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def hkt(year: int, month: int, day: int, hour: int = 10) -> datetime:
    """An instant at ``hour`` o'clock Hong Kong time (UTC+8)."""
    return datetime(year, month, day, tzinfo=UTC) + timedelta(hours=hour - 8)


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("circulation") / "hkpl.db")
    else:
        url = pg_url(f"illfed_circ_{uuid.uuid4().hex[:12]}")
        try:
            asyncio.run(ensure_database(url))
        except OSError as exc:
            pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    asyncio.run(upgrade("circulation", url))
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
def clock():
    return ManualClock(hkt(2026, 1, 25))


class Desk:
    """A test's view of the library: its HTTP client, a staff token, the clock, helpers."""

    def __init__(self, client: httpx.AsyncClient, runtime, clock: ManualClock) -> None:
        self.client, self.runtime, self.clock = client, runtime, clock
        self.library: str = runtime.library.code
        self.staff: dict[str, str] = {}
        self._tag = uuid.uuid4().hex[:6].upper()
        self._n = itertools.count(1)

    def unique(self, prefix: str = "") -> str:
        return f"{prefix}{self._tag}{next(self._n):04d}"

    async def login_staff(self) -> None:
        res = await self.client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.library,
                "client_secret": client_secret(DEV_SECRET, self.library),
            },
        )
        assert res.status_code == 200, res.text
        self.staff = {"Authorization": f"Bearer {res.json()['access_token']}"}

    async def travel(self, when: datetime) -> None:
        """Move the clock (tokens expire by it, so staff sign in again)."""
        self.clock.set(when)
        await self.login_staff()

    async def post(self, path: str, body: dict | None = None, **headers: str) -> httpx.Response:
        return await self.client.post(path, json=body or {}, headers={**self.staff, **headers})

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=self.staff)

    def hkid(self) -> str:
        """A fresh, valid HKID number (letter, six digits, check digit)."""
        digits = f"{uuid.uuid4().int % 1_000_000:06d}"
        return f"K{digits}({hkid_check_digit('K', digits)})"

    def smart_id_reading(self, hkid: str, *, date_of_birth: str = "1990-04-01", **extra):
        return {
            "english_name": "CHAN, Tai Man",
            "chinese_name": "陳大文",
            "hkid_number": hkid,
            "date_of_birth": date_of_birth,
            "date_of_issue": "2020-03-01",
            **extra,
        }

    async def sign_in(self, identifier: str, secret: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/patron-sessions", json={"identifier": identifier, "secret": secret}
        )

    async def add_item(self, **fields) -> dict:
        body = {
            "barcode": self.unique("B"),
            "title": "Hong Kong: A History",
            "material_type": "book",
            "service_point": "hkcl",
            **fields,
        }
        res = await self.post("/api/v1/items", body)
        assert res.status_code == 201, res.text
        return res.json()

    async def register(self, **fields) -> dict:
        body = {
            "category": "adult",
            "name_en": "Chan Tai Man",
            "date_of_birth": "1990-04-01",
            "address": {"lines": ["1 Nathan Road"], "district": "Yau Tsim Mong"},
            "email": "chan.taiman@example.hk",
            "phone": "+852 9123 4567",
            "card_number": self.unique("C"),
            "password": "s3cret-pass",
            **fields,
        }
        res = await self.post("/api/v1/patrons", body)
        assert res.status_code == 201, res.text
        data = res.json()
        data["card_number"] = body["card_number"]
        return data

    async def checkout(self, card: str, item: dict) -> httpx.Response:
        return await self.post("/api/v1/loans", {"card_number": card, "item_id": item["id"]})

    async def give_back(self, item: dict, service_point: str = "kpl") -> httpx.Response:
        return await self.post(
            "/api/v1/returns", {"item_id": item["id"], "service_point": service_point}
        )

    async def messages(self, type_: str | None = None) -> list[dict]:
        async with self.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.body).order_by(outbox.c.id))).all()
        envelopes = [json.loads(r.body) for r in rows]
        return [e for e in envelopes if type_ is None or e["type"] == type_]

    async def notices(self, patron_id: str) -> list[dict]:
        return [
            e["payload"]
            for e in await self.messages("notice.requested")
            if e["payload"]["patron_ref"] == patron_id
        ]


@contextlib.asynccontextmanager
async def open_desk(database_url: str, clock: ManualClock, library: str = LIBRARY):
    """One library's circulation app on the in-process bus, with its staff signed in."""
    broker = MemoryBroker()
    broker.declare(federation_queues(default_federation()))
    rt = build_runtime(library, database_url, broker.handle(library), clock, hasher=CHEAP_HASHER)
    app = create_app(rt, default_federation(), DEV_SECRET)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{library}.test") as c:
            d = Desk(c, rt, clock)
            await d.login_staff()
            yield d
    finally:
        await rt.engine.dispose()


@pytest.fixture
async def desk(database_url, clock):
    async with open_desk(database_url, clock) as d:
        yield d
