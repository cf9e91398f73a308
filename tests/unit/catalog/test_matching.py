"""Match keys: when two libraries' records are the same work."""

from services.catalog.domain.matching import match_keys, work_key
from services.catalog.domain.model import BibRecord


def test_identifier_keys_come_from_every_isbn_and_the_issn():
    rec = BibRecord(title="x", isbns=("9789622099449", "9780415471312"), issn="00219118")
    ids, _ = match_keys(rec)
    assert ids == ["isbn:9789622099449", "isbn:9780415471312", "issn:00219118"]


def test_work_key_ignores_case_punctuation_article_and_name_order():
    a = work_key("The History of Hong Kong.", "Tsang, Steve", 2004)
    b = work_key("history of hong kong", "Steve Tsang", 2004)
    assert a is not None and a == b
    assert work_key("History of Hong Kong", "Steve Tsang", 2005) != a


def test_work_key_needs_an_author_or_a_year():
    assert work_key("Annual report", None, None) is None
    assert work_key("Annual report", None, 2020) is not None
    assert work_key("", "Someone", 2020) is None


def test_cjk_titles_match_on_the_same_characters():
    assert work_key("香港歷史", "劉智鵬", 2019) == work_key("香港 歷史", "劉智鵬", 2019)
