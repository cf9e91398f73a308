"""ISBN and ISSN: validation and one canonical form each.

Catalogues write the same ISBN as ``978-962-209-xxx-x``, ``9789622090000``, ``962209xxxx`` or
``ISBN 962-209-xxx-x (pbk.)``. Matching and search compare only the canonical form: an ISBN-13
of digits (ISBN-10s are converted), and an ISSN of eight characters without the hyphen.
"""

from __future__ import annotations

import re
import unicodedata

# Qualifiers that MARC 020 $a and publishers append: "(pbk.)", ": HK$120", "alk. paper".
_QUALIFIER = re.compile(r"[(:;].*$")
_PREFIX = re.compile(r"^\s*(?:isbn|issn)(?:-1[03])?[:\s]*", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—.]")


def _compact(raw: str) -> str:
    # NFKC: full-width digits and hyphens ("９７８－９６２…") are the ASCII ones.
    text = _PREFIX.sub("", unicodedata.normalize("NFKC", raw))
    text = _QUALIFIER.sub("", text)
    return _SEPARATORS.sub("", text).upper()


def _digits(text: str) -> bool:
    # ASCII only: "٣".isdigit() is true, and would make an ISBN no search ever finds.
    return text.isascii() and text.isdigit()


def isbn10_check_digit(first9: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def isbn13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def isbn13(raw: str | None) -> str | None:
    """The ISBN-13 of ``raw`` (ISBN-10 or ISBN-13, hyphens/spaces/qualifiers allowed), or None
    when ``raw`` is not a valid ISBN (wrong length, not digits, wrong check digit)."""
    if not raw:
        return None
    digits = _compact(raw)
    if len(digits) == 10:
        body, check = digits[:9], digits[9]
        if not _digits(body) or check != isbn10_check_digit(body):
            return None
        first12 = "978" + body
        return first12 + isbn13_check_digit(first12)
    if len(digits) == 13:
        if not _digits(digits) or not digits.startswith(("978", "979")):
            return None
        if digits[12] != isbn13_check_digit(digits[:12]):
            return None
        return digits
    return None


def isbn10(isbn_13: str) -> str | None:
    """The ISBN-10 form of a canonical ISBN-13, when it has one (only the 978 prefix does)."""
    if len(isbn_13) != 13 or not isbn_13.startswith("978"):
        return None
    body = isbn_13[3:12]
    return body + isbn10_check_digit(body)


def issn_check_digit(first7: str) -> str:
    total = sum((8 - i) * int(d) for i, d in enumerate(first7))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def issn(raw: str | None) -> str | None:
    """The ISSN as eight characters (``0317847X``), or None when it is not a valid ISSN."""
    if not raw:
        return None
    text = _compact(raw)
    if len(text) != 8 or not _digits(text[:7]) or text[7] != issn_check_digit(text[:7]):
        return None
    return text


def format_issn(canonical: str) -> str:
    return f"{canonical[:4]}-{canonical[4:]}"


# A run that could be an ISBN inside free text: digits with optional hyphens/spaces, ending in
# a digit or X. Validity (length, check digit) is decided by isbn13().
_ISBN_IN_TEXT = re.compile(
    r"(?<![\w])(?:isbn(?:-1[03])?[:\s]*)?(?:97[89][\- ]?)?\d(?:[\- ]?\d){8}[\- ]?[\dXx](?![\w])",
    re.IGNORECASE,
)
_ISSN_IN_TEXT = re.compile(r"(?<![\w])(?:issn[:\s]*)?\d{4}-\d{3}[\dXx](?![\w])", re.IGNORECASE)


def find_isbns(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Valid ISBNs written in ``text``: (ISBN-13, span) for each."""
    found = []
    for m in _ISBN_IN_TEXT.finditer(text):
        canonical = isbn13(m.group(0))
        if canonical:
            found.append((canonical, m.span()))
    return found


def find_issns(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Valid hyphenated ISSNs written in ``text`` (an unhyphenated 8-digit number is far more
    often a plain number than an ISSN, so only ``nnnn-nnnn`` counts)."""
    found = []
    for m in _ISSN_IN_TEXT.finditer(text):
        canonical = issn(m.group(0))
        if canonical:
            found.append((canonical, m.span()))
    return found
