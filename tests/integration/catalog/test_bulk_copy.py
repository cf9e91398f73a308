"""COPY loading (PostgreSQL, for big first loads and the benchmark) builds the same catalogue as
the ordinary load."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.db import drop_database, make_engine
from services.catalog.adapters.bulk_copy import NotEmpty, copy_load
from services.catalog.adapters.repository import load_records, search
from services.catalog.domain.query import SearchQuery
from services.catalog.seed import synthetic_records

from .catalogue import EDUHK, MEMBERS
from .conftest import new_database

pytestmark = pytest.mark.pg
COUNT = 400
QUERIES = [
    SearchQuery(text="香港"),
    SearchQuery(text="history", patron=EDUHK),
    SearchQuery(),
    SearchQuery(text="macau", scope="consortium", scope_code="MALA", available_now=True),
    SearchQuery(material_types=("serial", "thesis"), languages=("eng",)),
]


@pytest.fixture(scope="module")
def two_catalogues(tmp_path_factory):
    copied = new_database("postgresql", tmp_path_factory)
    loaded = new_database("postgresql", tmp_path_factory)

    async def fill():
        for url, use_copy in ((copied, True), (loaded, False)):
            engine = make_engine(url)
            try:
                async with engine.begin() as conn:
                    stream = synthetic_records(COUNT, seed=5)
                    if use_copy:
                        report = await copy_load(conn, stream, MEMBERS)
                    else:
                        report = await load_records(conn, list(stream), members=MEMBERS)
                    assert report.created == COUNT
            finally:
                await engine.dispose()

    asyncio.run(fill())
    yield copied, loaded
    asyncio.run(drop_database(copied))
    asyncio.run(drop_database(loaded))


async def results(url, query):
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            page = await search(conn, query)
    finally:
        await engine.dispose()
    return page


@pytest.mark.parametrize("query", QUERIES, ids=[q.text or "filters" for q in QUERIES])
async def test_copy_and_ordinary_load_answer_alike(two_catalogues, query):
    copied, loaded = two_catalogues
    a, b = await results(copied, query), await results(loaded, query)
    assert a.total == b.total and a.facets == b.facets
    assert a.hits == b.hits


async def test_copy_refuses_a_catalogue_with_records(two_catalogues):
    engine = make_engine(two_catalogues[0])
    try:
        async with engine.connect() as conn:
            with pytest.raises(NotEmpty):
                await copy_load(conn, synthetic_records(1), MEMBERS)
    finally:
        await engine.dispose()
