"""One outcome convention: a handler returns what it decided, the boundary commits what it
wrote and then answers. A refusal whose writes must stay (the patron's notice of it) is
committed and answered with the refusal; a retry with the same Idempotency-Key is decided
again, not answered from the key."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, select

from libs.common.clock import ManualClock
from libs.common.db import make_engine, sqlite_url
from libs.common.errors import Problem
from libs.common.idempotency import Once
from libs.common.messaging.tables import shared_tables
from libs.common.outcome import Outcome
from libs.common.policy import Decision, Refusal

metadata = MetaData()
_, _, keys = shared_tables(metadata)
notices = Table("notices", metadata, Column("id", String(40), primary_key=True))

REFUSED = Decision.of(
    "renewal",
    [Refusal(rule="HKPL-03", code="consecutive_renewal_limit", action="renewal", reason="5")],
)


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "outcome.db"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_a_refusal_with_its_notice_is_committed_then_answered_and_decided_again(
    engine,
):
    once = Once(engine, ManualClock(), keys, "patron-1", "key-1", "hash")
    written = []

    async def refuse_with_notice(conn):
        written.append(1)
        await conn.execute(notices.insert().values(id=f"n{len(written)}"))
        return Outcome.refuse(REFUSED)

    with pytest.raises(Problem) as refused:
        await once.run(refuse_with_notice, 201)
    assert refused.value.status == 409 and refused.value.rules == ["HKPL-03"]
    assert await count(engine, notices) == 1  # the notice stays
    assert await count(engine, keys) == 0  # the key is not used up by a refusal
    with pytest.raises(Problem):
        await once.run(refuse_with_notice, 201)
    assert len(written) == 2  # the retry was decided again


async def test_an_allowed_outcome_is_answered_with_its_value_and_kept_under_the_key(engine):
    once = Once(engine, ManualClock(), keys, "patron-1", "key-2", "hash")
    calls = []

    async def renew(conn):
        calls.append(1)
        return Outcome.done({"renewed": 1}).map(lambda body: {**body, "view": True})

    first = await once.run(renew, 201)
    again = await once.run(renew, 201)
    assert first.status_code == again.status_code == 201
    assert first.body == again.body and b'"view":true' in first.body
    assert len(calls) == 1


async def test_a_raised_error_rolls_back_what_the_handler_wrote(engine):
    once = Once(engine, ManualClock(), keys, "patron-1", "key-3", "hash")

    async def fails(conn):
        await conn.execute(notices.insert().values(id="lost"))
        raise RuntimeError("nothing is to be kept")

    with pytest.raises(RuntimeError):
        await once.run(fails)
    assert await count(engine, notices) == 0


def test_a_throttled_refusal_says_when_to_ask_again():
    problem = Outcome.refuse(
        REFUSED, 429, problem_type="sign-in-throttled", retry_after=30
    ).problem()
    assert (problem.status, problem.type, problem.headers) == (
        429,
        "sign-in-throttled",
        {"Retry-After": "30"},
    )
