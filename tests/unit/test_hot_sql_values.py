"""The values a hot statement sends (:mod:`libs.common.hot_sql`), worked out once per set of
parameter names, are the ones SQLAlchemy's own ``construct_params`` gives on every execution:
the caller's values, a statement's literals, a bind's default or callable, values set with
``.params()``, each through its column type's bind processor."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.exc import InvalidRequestError

from libs.common import hot_sql
from libs.common.db import UtcDateTime

meta = MetaData()
items = Table(
    "hot_values_items",
    meta,
    Column("id", String(20), primary_key=True),
    Column("status", String(20)),
    Column("version", Integer),
    Column("at", UtcDateTime()),
    Column("doc", JSON),
)
HKT = timezone(timedelta(hours=8))
_calls = itertools.count(1)
CONN = SimpleNamespace(dialect=pg_asyncpg.dialect())


def _plan(stmt, params):
    plan = hot_sql._Plan.of(stmt, CONN, sorted(params))
    assert plan is not None
    return plan


def _both(stmt, params):
    plan = _plan(stmt, params)
    return plan.args(params), plan._args_by_sqlalchemy(params)


def test_the_callers_values_and_the_statements_literals_in_their_places():
    stmt = (
        update(items)
        .where(items.c.id == bindparam("item"), items.c.version == bindparam("seen"))
        .values(status=bindparam("status"), version=items.c.version + 1, at=bindparam("now"))
    )
    now = datetime(2026, 12, 3, 20, 0, tzinfo=HKT)
    params = {"item": "i-1", "seen": 4, "status": "ON_LOAN", "now": now}
    ours, sqlalchemys = _both(stmt, params)
    assert ours == sqlalchemys
    assert 1 in ours and "ON_LOAN" in ours and "i-1" in ours
    # the instant went through UtcDateTime's processor: made UTC
    assert datetime(2026, 12, 3, 12, 0, tzinfo=UTC) in ours


def test_a_binds_default_callable_and_params_set_on_the_statement():
    stmt = (
        select(items.c.id)
        .where(items.c.status == bindparam("status", value="AVAILABLE"))
        .where(items.c.version > bindparam("floor", callable_=lambda: next(_calls)))
        .where(items.c.id == bindparam("item"))
        .params(item="i-9")
    )
    plan = _plan(stmt, {})
    first, again = plan.args({}), plan.args({})
    assert first[0] == "AVAILABLE" and first[2] == "i-9"
    assert again[1] == first[1] + 1  # the callable is asked on every execution
    # a value the caller gives wins over the default and over .params()
    given = {"status": "LOST", "item": "i-2"}
    ours, sqlalchemys = _both(stmt, given)
    assert [ours[0], ours[2]] == [sqlalchemys[0], sqlalchemys[2]] == ["LOST", "i-2"]


def test_json_goes_through_its_type_as_sqlalchemy_sends_it():
    stmt = update(items).where(items.c.id == bindparam("item")).values(doc=bindparam("doc"))
    params = {"item": "i-3", "doc": {"lenders": ["hku", "um"], "n": 2}}
    ours, sqlalchemys = _both(stmt, params)
    assert ours == sqlalchemys


def test_a_required_value_left_out_is_named_as_sqlalchemy_names_it():
    stmt = select(items.c.id).where(items.c.id == bindparam("item"))
    plan = _plan(stmt, {})
    with pytest.raises(InvalidRequestError, match="A value is required for bind parameter 'item'"):
        plan.args({})
