"""MARC fixtures (valid and broken) load with the right counts and per-record errors."""

from __future__ import annotations

from pathlib import Path

from services.catalog.adapters.marc import read_marc, read_marcxml
from services.catalog.adapters.repository import load_results, search
from services.catalog.domain.query import SearchQuery

from .catalogue import MEMBERS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "marc"


async def load_file(conn, results):
    return await load_results(conn, results, members=MEMBERS)


async def test_valid_marc21(conn):
    report = await load_file(conn, read_marc((FIXTURES / "valid.mrc").read_bytes()))
    assert (report.created, report.merged, report.holdings, report.rejected) == (5, 1, 7, [])
    page = await search(conn, SearchQuery(text="962-209-944-0"))
    assert [h.library for h in page.hits[0].holdings] == ["cityu", "cuhk", "hkbu"]
    assert (await search(conn, SearchQuery(text="澳門"))).hits[0].title == "澳門文學史"


async def test_valid_marcxml(conn):
    report = await load_file(conn, read_marcxml((FIXTURES / "valid.xml").read_bytes()))
    assert (report.created, report.merged, report.holdings, report.rejected) == (5, 1, 7, [])


async def test_broken_marc21(conn):
    report = await load_file(conn, read_marc((FIXTURES / "broken.mrc").read_bytes()))
    assert (report.created, report.merged, report.holdings) == (3, 0, 4)
    reasons = {r.index: r.reason for r in report.rejected}
    assert sorted(reasons) == [1, 2, 4, 5, 6, 7]
    assert reasons[6] == "no title (245 $a)"


async def test_broken_marcxml(conn):
    report = await load_file(conn, read_marcxml((FIXTURES / "broken.xml").read_bytes()))
    assert (report.created, report.merged) == (2, 0)
    reasons = {r.index: r.reason for r in report.rejected}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert reasons[4] == "unknown library 'nowhere'"
    assert "BORROWED" in reasons[3]


async def test_truncated_marcxml_keeps_the_records_before_the_break(conn):
    report = await load_file(conn, read_marcxml((FIXTURES / "truncated.xml").read_bytes()))
    assert report.created == 2
    assert [r.index for r in report.rejected] == [2]
