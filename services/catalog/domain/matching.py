"""When two libraries' records are the same work: the match keys.

A record is found again by any of its identifier keys (every ISBN, the ISSN); only when none of
them is known does the normalised title + first author + year key decide. That key is made only
when the title comes with an author or a year, so that two different "Annual report"s are never
merged on their title alone.
"""

from __future__ import annotations

import hashlib
import re

from services.catalog.domain.model import BibRecord
from services.catalog.domain.text import compact

# Leading articles that libraries file without: "The history of..." == "History of...".
_LEADING_ARTICLE = re.compile(r"^(?:the|an?|os?|as?|le|la|les|el|los|las|der|die|das) ")


def isbn_key(isbn13: str) -> str:
    return f"isbn:{isbn13}"


def issn_key(issn: str) -> str:
    return f"issn:{issn}"


def normalized_title(title: str) -> str:
    return _LEADING_ARTICLE.sub("", compact(title))


def normalized_author(author: str) -> str:
    """Word order does not matter: "Chan, Tai Man" and "Tai Man Chan" are one person."""
    return " ".join(sorted(compact(author).split()))


def work_key(title: str, first_author: str | None, year: int | None) -> str | None:
    title_part = normalized_title(title)
    author_part = normalized_author(first_author) if first_author else ""
    if not title_part or (not author_part and year is None):
        return None
    material = f"{title_part}|{author_part}|{year or ''}".encode()
    return "work:" + hashlib.blake2b(material, digest_size=16).hexdigest()


def identifier_keys(record: BibRecord) -> list[str]:
    keys = [isbn_key(i) for i in record.isbns]
    if record.issn:
        keys.append(issn_key(record.issn))
    return keys


def match_keys(record: BibRecord) -> tuple[list[str], str | None]:
    """(identifier keys, work key) of a record; identifiers are tried first."""
    first_author = record.authors[0] if record.authors else None
    return identifier_keys(record), work_key(record.title, first_author, record.year)
