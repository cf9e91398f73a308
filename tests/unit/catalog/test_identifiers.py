"""ISBN and ISSN: one canonical form whatever the writing."""

from hypothesis import given
from hypothesis import strategies as st

from services.catalog.domain.identifiers import (
    find_isbns,
    find_issns,
    format_issn,
    isbn10,
    isbn10_check_digit,
    isbn13,
    issn,
)


def test_isbn13_written_every_way_is_one_isbn():
    forms = [
        "9789622099449",
        "978-962-209-944-9",
        "978 962 209 944 9",
        "ISBN 978-962-209-944-9 (pbk.)",
        "isbn-13: 9789622099449",
        "9622099440",
        "962-209-944-0",
        "962209944-0 : HK$120",
    ]
    assert {isbn13(f) for f in forms} == {"9789622099449"}


def test_isbn10_with_x_check_digit():
    assert isbn13("0-8044-2957-X") == "9780804429573"
    assert isbn13("080442957x") == "9780804429573"


def test_invalid_isbns_are_refused():
    for bad in (
        "978-962-209-944-3",
        "962209944X",
        "12345",
        "97896220994490",
        "abcdefghij",
        "9770000000000",
        "",
    ):
        assert isbn13(bad) is None, bad


def test_isbn10_form_of_isbn13():
    assert isbn10("9789622099449") == "9622099440"
    assert isbn10("9791034304011") is None  # 979 ISBNs have no ISBN-10


@given(st.integers(min_value=0, max_value=999_999_999))
def test_isbn10_and_its_isbn13_are_the_same_book(n):
    body = f"{n:09d}"
    ten = body + isbn10_check_digit(body)
    thirteen = isbn13(ten)
    assert thirteen is not None and len(thirteen) == 13
    assert isbn13(thirteen) == thirteen
    assert isbn10(thirteen) == ten
    hyphenated = f"{ten[:1]}-{ten[1:4]}-{ten[4:9]}-{ten[9]}"
    assert isbn13(hyphenated) == thirteen


def test_issn():
    assert issn("1050-124X") == "1050124X"
    assert issn("1050-124x") == "1050124X"
    assert issn("0021-9118") == "00219118"
    assert issn("0021-9119") is None
    assert format_issn("00219118") == "0021-9118"


def test_isbns_and_issns_found_in_free_text():
    assert [i for i, _ in find_isbns("see 962-209-944-0 or 9780415471312")] == [
        "9789622099449",
        "9780415471312",
    ]
    assert find_isbns("born 1234567890 times") == []  # not a valid ISBN
    assert [i for i, _ in find_issns("Journal 0021-9118")] == ["00219118"]


def test_full_width_digits_are_the_ascii_ones_and_other_digits_are_not():
    assert isbn13("９７８－９６２－２０９－９４４－９") == "9789622099449"
    assert issn("００２１－９１１８") == "00219118"
    # Arabic-Indic digits pass str.isdigit(); a canonical ISBN is ASCII digits only.
    assert isbn13("٩٧٨٩٦٢٢٠٩٩٤٤٩") is None
