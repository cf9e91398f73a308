"""MARC21 and MARCXML fixtures read with pymarc: good records, and a reason for each broken one
(see tests/fixtures/marc/make_fixtures.py for what each fixture holds)."""

from pathlib import Path

from services.catalog.adapters.marc import read_marc, read_marcxml
from services.catalog.domain.model import BibRecord, Rejection

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "marc"


def split(results):
    good = [r for r in results if isinstance(r, BibRecord)]
    bad = {r.index: r.reason for r in results if isinstance(r, Rejection)}
    return good, bad


def test_valid_marc21_fields_and_holdings():
    good, bad = split(list(read_marc((FIXTURES / "valid.mrc").read_bytes())))
    assert bad == {} and len(good) == 6
    hk = good[0]
    assert hk.title == "A concise history of Hong Kong"
    assert hk.authors == ("Carroll, John M.",)
    assert hk.subjects == ("Hong Kong (China) -- History",)
    assert hk.isbns == ("9789622099449",) and hk.year == 2007 and hk.language == "eng"
    assert hk.publisher == "Hong Kong University Press" and hk.source_id == "fx-hk-history"
    assert [(h.library, h.item_id, h.status, h.version) for h in hk.holdings] == [
        ("cityu", "cityu-i001", "AVAILABLE", 0),
        ("hkbu", "hkbu-i001", "ON_LOAN", 4),
    ]
    macau = good[1]
    assert macau.title == "澳門文學史" and macau.language == "chi"
    assert macau.subjects == ("中國文學 -- 澳門 -- 歷史",)
    only = macau.holdings[0]  # from 852
    assert (only.library, only.item_id, only.call_number) == ("um", "UM0001", "PL3030.M3 Z43 2012")
    assert [r.material_type for r in good] == [
        "book",
        "book",
        "serial",
        "thesis",
        "book_with_disc",
        "book",
    ]
    assert good[2].issn == "00219118"


def test_valid_marcxml_reads_the_same_records():
    with open(FIXTURES / "valid.xml", "rb") as fh:
        xml_good, bad = split(list(read_marcxml(fh)))
    marc_good, _ = split(list(read_marc((FIXTURES / "valid.mrc").read_bytes())))
    assert bad == {}
    assert xml_good == marc_good


def test_broken_marc21_rejects_each_bad_record_and_reads_the_rest():
    with open(FIXTURES / "broken.mrc", "rb") as fh:
        good, bad = split(list(read_marc(fh)))
    assert [r.position for r in good] == [0, 3, 8]
    assert sorted(bad) == [1, 2, 4, 5, 6, 7]
    assert "not a number" in bad[1]
    assert "no base address" in bad[2]
    assert "shorter than its leader says" in bad[4]
    assert "directory" in bad[5]
    assert bad[6] == "no title (245 $a)"
    assert "978-962-209-944-3" in bad[7] and "not a valid ISBN" in bad[7]


def test_broken_marcxml_rejects_each_bad_record_and_reads_the_rest():
    good, bad = split(list(read_marcxml((FIXTURES / "broken.xml").read_bytes())))
    assert [r.position for r in good] == [0, 4, 5]
    assert sorted(bad) == [1, 2, 3]
    assert "leader" in bad[1]
    assert "no tag" in bad[2]
    assert "unknown item status 'BORROWED'" in bad[3]


def test_xml_that_breaks_off_keeps_what_was_read():
    good, bad = split(list(read_marcxml((FIXTURES / "truncated.xml").read_bytes())))
    assert [r.position for r in good] == [0, 1]
    assert list(bad) == [2] and "not well-formed" in bad[2]


def test_marcxml_in_an_unknown_encoding_is_a_rejection_not_an_error():
    from services.catalog.adapters.marc import read_marcxml

    out = list(read_marcxml(b'<?xml version="1.0" encoding="UTF-9"?><collection/>'))
    assert len(out) == 1 and "cannot be decoded" in out[0].reason


def _marc(*fields, f008: str = "240101s2019    hk            000 0 eng d") -> bytes:
    from pymarc import Field, Indicators, Record, Subfield

    rec = Record(force_utf8=True, leader="00000cam a2200000 a 4500")
    rec.add_field(Field(tag="008", data=f008))
    rec.add_field(Field(tag="245", indicators=Indicators(" ", " "), subfields=[Subfield("a", "T")]))
    for tag, pairs in fields:
        subs = [Subfield(code, value) for code, value in pairs]
        rec.add_field(Field(tag=tag, indicators=Indicators(" ", " "), subfields=subs))
    return rec.as_marc()


def test_digits_that_are_not_ascii_are_no_year_and_no_version():
    # "²".isdigit() is true but int("²") fails: a rejection or no year, never an exception.
    item = ("949", [("a", "hku"), ("i", "i1"), ("v", "²")])
    good, bad = split(list(read_marc(_marc(f008="240101s²²²²    hk            000 0 eng d"))))
    assert bad == {} and good[0].year is None
    good, bad = split(list(read_marc(_marc(item))))
    assert good == [] and "version '²' is not a number" in bad[0]
    good, bad = split(list(read_marc(_marc(f008="240101s0000    hk            000 0 eng d"))))
    assert good[0].year is None  # not a year (JSON loads take 1000-2999)


def test_a_byte_order_mark_before_the_first_record_is_skipped():
    body = _marc() + _marc()
    good, bad = split(list(read_marc(b"\xef\xbb\xbf" + body)))
    assert bad == {} and len(good) == 2
