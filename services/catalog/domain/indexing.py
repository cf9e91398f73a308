"""The search document of a record: the tokens it is found by and its static rank.

Every condition a search can put is a token, so that one inverted index answers keywords,
filters and scope together (PostgreSQL: a GIN index on a tsvector; SQLite: FTS5):

=================  ==========================================================
``word`` / ``香港``  a word or CJK bigram of the title, an author or a subject
``t_word``          the same, from the title only (titles rank first)
``x_<hash>``        the whole normalised title (a query that is the title ranks first)
``xm_<hash>``       the main title, before a subtitle (ranks next)
``isbn_<13>``       each ISBN as ISBN-13; ``issn_<8>`` the ISSN
``mt_<type>``       material type; ``lang_<code>`` language
``lib_<code>``      a library holds a copy; ``av_<code>`` it has one AVAILABLE
``con_<c>``         a library of consortium c holds it; ``avc_<c>`` one has it AVAILABLE
``av_``             some library has it AVAILABLE
``smp_<n>``         the record is in the 1-in-n sample (n = 4, 16, 64, 256, 1024)
``rk_<n>``          the record's place in the static rank order, in 64 slices per number
                    of libraries holding it (``rank_key >> 26``)
=================  ==========================================================

Reserved tokens all contain ``_``, which never occurs in a word token (see ``text``).
The sample tokens let counts and facets of a query with very many matches be estimated from a
uniform sample instead of visiting every match; the rank slices let the best-ranked matches of
a few thousand be read without reading them all (see ``adapters.search``).

Beside the tokens, a document has the mask of the libraries holding the record (bit n: the
library numbered n by the ``directory``). Filters and scope never read it (they are tokens,
which know no limit of libraries); it tells a search that a row is held at all (checked on
every row read), counts the library facet (over every sampled match, thousands of rows) and
gives the rank its number of holders. It is stored in two columns:

* ``libs``, a signed 64-bit integer: the bits of libraries 0-62 as they have always been,
  and bit 63 (the sign) set when a library numbered 63 or above holds the record too;
* ``libs_more``: those libraries' bits (the mask shifted down by 63, little-endian bytes),
  NULL when there are none.

Why a second column, not the holdings rows, for the libraries beyond 63: the facet is counted
over the sampled matches, and finding their holders through ``holdings`` would read the
holdings of thousands of records per search, in just the federations that have the most
libraries. The column costs nothing where it is NULL: a catalogue of up to 63 libraries keeps
its rows as they were (a NULL takes no room, the row's null bitmap fits in the header's
padding) and the searches' statements are unchanged (a row is held when ``libs <> 0``, true
through the sign bit too), so its fast path is the one it had. Bytes, not more integer
columns: no new limit to find later.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.catalog.domain.directory import Directory
from services.catalog.domain.matching import normalized_title
from services.catalog.domain.model import AVAILABLE, UNDETERMINED, WITHDRAWN
from services.catalog.domain.text import index_tokens

SAMPLE_LEVELS = (4, 16, 64, 256, 1024)
MAX_DOCUMENT_BYTES = 512 * 1024
ANY_AVAILABLE = "av_"
TITLE_PREFIX = "t_"
_UNSAFE = re.compile(r"[^a-z0-9]+")
_MAIN_TITLE = re.compile(r"\s*[:=/;]\s*")


def _code(value: str) -> str:
    return _UNSAFE.sub("_", value.lower())


def library_token(code: str) -> str:
    return f"lib_{_code(code)}"


def available_token(code: str) -> str:
    return f"av_{_code(code)}"


def consortium_token(consortium: str) -> str:
    return f"con_{_code(consortium)}"


def consortium_available_token(consortium: str) -> str:
    return f"avc_{_code(consortium)}"


def material_token(material_type: str) -> str:
    return f"mt_{_code(material_type)}"


def language_token(language: str) -> str:
    return f"lang_{_code(language)}"


def isbn_token(isbn13: str) -> str:
    return f"isbn_{isbn13}"


def issn_token(issn: str) -> str:
    return f"issn_{issn.lower()}"


def _title_hash(title: str) -> str | None:
    norm = normalized_title(title)
    if not norm:
        return None
    return hashlib.blake2b(norm.encode(), digest_size=8).hexdigest()


def exact_title_token(title: str) -> str | None:
    """The token of a whole title (or of a query that is a whole title)."""
    h = _title_hash(title)
    return f"x_{h}" if h else None


def main_title_token(title: str) -> str | None:
    """The token of a title's main part, before its subtitle ("Macau" of "Macau: a cultural
    Janus"), or of a query that is such a main part."""
    h = _title_hash(title)
    return f"xm_{h}" if h else None


def main_title(title: str) -> str:
    return _MAIN_TITLE.split(title, maxsplit=1)[0]


def sample_bucket(record_id: int) -> int:
    """A well-spread 10-bit hash of the id (Fibonacci hashing), independent of load order."""
    return ((record_id * 2654435761) & 0xFFFFFFFF) >> 22


def sample_tokens(record_id: int) -> list[str]:
    bucket = sample_bucket(record_id)
    return [f"smp_{n}" for n in SAMPLE_LEVELS if bucket % n == 0]


def sample_token(level: int) -> str:
    return f"smp_{level}"


#: a rank slice is the rank keys that agree above this bit: the number of libraries holding
#: (above bit 32) and the top 6 bits of the spread, so 64 slices per number of libraries
RANK_SLICE_SHIFT = 26


def rank_slice(rank: int) -> int:
    """The slice of the static rank order ``rank`` (a :func:`rank_key`) is in; slices are
    numbered in rank order."""
    return rank >> RANK_SLICE_SHIFT


def rank_slice_token(slice_: int) -> str:
    return f"rk_{slice_}"


#: the rank tells apart records held by up to this many libraries; more rank as this many
#: (held by 64 libraries or by 200 is as wide as a record gets). Rank keys of records held by
#: fewer are what they were when 63 was the most libraries a catalogue had.
RANKED_HOLDERS = 64


def rank_key(libraries_holding: int, record_id: int) -> int:
    """Static order among equally relevant results: held by more libraries first (as WorldCat
    ranks). Ties are broken by a hash of the id, not by anything about the text: a search
    that walks the records in this order then meets its matches evenly spread, whatever the
    words (ordering by title length, say, would put every short Chinese title before the first
    English one)."""
    spread = (record_id * 2654435761) & 0xFFFFFFFF
    return ((RANKED_HOLDERS - min(libraries_holding, RANKED_HOLDERS)) << 32) | spread


#: libraries numbered below this have their bit in ``record_search.libs`` itself
MASK_BITS = 63
_LOW_BITS = (1 << MASK_BITS) - 1
#: bit 63 of the signed column: ``libs_more`` holds the bits of libraries numbered 63 and on
_MORE = -(1 << MASK_BITS)


def stored_mask(mask: int) -> tuple[int, bytes | None]:
    """A holders mask as its two columns: ``(libs, libs_more)``."""
    more = mask >> MASK_BITS
    if not more:
        return mask, None
    return (mask & _LOW_BITS) | _MORE, more.to_bytes((more.bit_length() + 7) // 8, "little")


def holders_mask(libs: int, more: bytes | None) -> int:
    """The holders mask from its two columns (the inverse of :func:`stored_mask`)."""
    if libs >= 0:
        return libs
    return (libs & _LOW_BITS) | (int.from_bytes(more or b"", "little") << MASK_BITS)


@dataclass(frozen=True, slots=True)
class SearchDocument:
    record_id: int
    rank_key: int
    material_type: str
    language: str
    #: the holders mask, every library's bit (see :func:`stored_mask` for its columns)
    libs: int
    tokens: tuple[str, ...]

    def as_text(self) -> str:
        """Tokens separated by spaces (what SQLite's FTS5 table indexes)."""
        return " ".join(self.tokens)

    def as_tsvector(self) -> str:
        """The tsvector literal PostgreSQL parses without any further normalisation."""
        return " ".join(quote_lexeme(t) for t in self.tokens)


def quote_lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def build_document(
    record_id: int,
    *,
    title: str,
    authors: Iterable[str],
    subjects: Iterable[str],
    isbns: Iterable[str],
    issn: str | None,
    language: str | None,
    material_type: str,
    holdings: Iterable[tuple[str, str]],
    directory: Directory,
) -> SearchDocument:
    """The search document of a record; ``holdings`` are (library, status) of its items."""
    title_tokens = index_tokens(title)
    tokens = set(title_tokens)
    tokens.update(TITLE_PREFIX + t for t in title_tokens)
    # Authors, then subjects, while the document stays within MAX_DOCUMENT_BYTES (PostgreSQL
    # refuses a tsvector over 1 MB; no real record comes near, a made-up one could).
    size = sum(len(t.encode()) + 3 for t in tokens)
    for text in (*authors, *subjects):
        for t in sorted(index_tokens(text) - tokens):
            size += len(t.encode()) + 3
            if size > MAX_DOCUMENT_BYTES:
                break
            tokens.add(t)
    exact = exact_title_token(title)
    if exact:
        tokens.add(exact)
        main = main_title_token(main_title(title))
        if main and main[3:] != exact[2:]:
            tokens.add(main)
    tokens.update(isbn_token(i) for i in isbns)
    if issn:
        tokens.add(issn_token(issn))
    lang = language or UNDETERMINED
    tokens.add(material_token(material_type))
    tokens.add(language_token(lang))

    libs = 0
    for library, status in holdings:
        if status == WITHDRAWN:
            continue
        libs |= 1 << directory.bit(library)
        consortium = directory.consortium_of(library)
        tokens.add(library_token(library))
        if consortium:
            tokens.add(consortium_token(consortium))
        if status == AVAILABLE:
            tokens.add(available_token(library))
            tokens.add(ANY_AVAILABLE)
            if consortium:
                tokens.add(consortium_available_token(consortium))
    tokens.update(sample_tokens(record_id))
    rank = rank_key(libs.bit_count(), record_id)
    tokens.add(rank_slice_token(rank_slice(rank)))
    return SearchDocument(
        record_id=record_id,
        rank_key=rank,
        material_type=material_type,
        language=lang,
        libs=libs,
        tokens=tuple(sorted(tokens)),
    )
