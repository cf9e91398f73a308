"""JSON records: what is accepted, and the reason given for what is not."""

from services.catalog.domain.intake import record_from_json, records_from_json
from services.catalog.domain.model import BibRecord, Rejection


def test_a_full_record():
    rec = record_from_json(
        {
            "id": "cityu-b1",
            "title": "  香港歷史 ",
            "authors": ["劉智鵬"],
            "isbn": "962-209-944-0",
            "language": "zh-Hant",
            "year": 2019,
            "holdings": [
                {"library": "cityu", "item_id": "i1", "material_type": "reference"},
                {"library": "hkbu", "item_id": "i2", "status": "ON_LOAN", "version": 3},
            ],
        }
    )
    assert rec.title == "香港歷史" and rec.isbns == ("9789622099449",) and rec.language == "chi"
    assert [h.material_type for h in rec.holdings] == ["reference", "book"]
    assert rec.holdings[1].status == "ON_LOAN" and rec.holdings[1].version == 3


def test_rejections_name_every_problem_and_the_rest_load():
    items = [
        {"title": "Good", "holdings": [{"library": "hku", "item_id": "1"}]},
        {"title": "Bad ISBN", "isbn": ["978-962-209-944-3"]},
        {"id": "x9", "title": "", "material_type": "scroll"},
        {
            "title": "Twice",
            "holdings": [{"library": "hku", "item_id": "1"}, {"library": "hku", "item_id": "1"}],
        },
        "not an object",
        {
            "title": "Odd status",
            "holdings": [{"library": "hku", "item_id": "2", "status": "BORROWED"}],
        },
        {"title": "Klingon", "language": "tlh-x"},
    ]
    out = list(records_from_json(items))
    assert isinstance(out[0], BibRecord)
    rejected = {r.index: r for r in out if isinstance(r, Rejection)}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6]
    assert "is not a valid ISBN" in rejected[1].reason
    assert rejected[2].source_id == "x9"
    assert "title" in rejected[2].reason and "material_type" in rejected[2].reason
    assert "listed twice" in rejected[3].reason
    assert "expected a JSON object" in rejected[4].reason
    assert "holdings.0.status" in rejected[5].reason
    assert "unknown language" in rejected[6].reason


def test_a_number_too_long_to_read_is_a_rejection_or_unreadable_not_an_error():
    import pytest

    from services.catalog.domain.intake import UnreadableJson, read_json

    huge = "9" * 5000  # past Python's int digit limit: ValueError, not JSONDecodeError
    with pytest.raises(UnreadableJson):
        read_json(f'[{{"title": "x", "year": {huge}}}]')
    out = read_json(f'{{"title": "a"}}\n{{"title": "b", "year": {huge}}}\n')
    assert isinstance(out[0], BibRecord) and isinstance(out[1], Rejection)
    assert out[1].reason.startswith("not JSON")
    out = read_json(f'{{"title": "b",\n "year": {huge}}}')
    assert isinstance(out[0], Rejection) and len(out) == 2
