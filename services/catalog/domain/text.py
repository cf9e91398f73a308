"""Text normalisation and tokens for search, the same on the indexing and the query side.

* Normalisation: case folding, NFKC (full-width ``ＡＢＣ１２３`` and half-width katakana become
  ordinary characters) and Latin accents dropped (``São`` finds ``Sao``). Traditional and
  Simplified Chinese are not converted into each other.
* Latin, digits and other spaced scripts: one token per word.
* CJK (Han, kana, Hangul) has no spaces, so a run of CJK characters is indexed as its
  overlapping bigrams and its single characters (``香港歷史`` → ``香港 港歷 歷史 香 港 歷 史``).
  A query run of two or more characters must contain all of its bigrams, so ``香港`` finds
  ``香港歷史`` and so does ``港歷``; a one-character query (a surname: ``陳``) looks for the
  character. Two CJK runs parted only by spaces or punctuation (``香港 歷史``) also get the
  bigram across the gap, so that the query ``香港歷史`` finds them. This is the usual CJK
  bigram scheme (as in Lucene's CJK analyser): a query of three or more characters can,
  rarely, match a text containing all its bigrams but not the whole string.
"""

from __future__ import annotations

import re
import unicodedata

# Han (with extensions and compatibility ideographs), kana, Hangul, Bopomofo, CJK marks that
# belong inside words (々〆〇).
_CJK_CLASS = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c\u3040-\u30ff"
    "\u3100-\u312f\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0002fa1f\U00030000-\U0003134f"
)
# A segment is a run of CJK characters or a run of other word characters; "_" separates, so
# that no word can ever look like one of the reserved tokens (which all contain "_").
_SEGMENT = re.compile(f"([{_CJK_CLASS}]+)|([^\\W_{_CJK_CLASS}]+)")
_COMBINING_ACCENTS = re.compile("[\u0300-\u036f]")
_APOSTROPHE_S = re.compile(r"['’]s\b")

# A longer word is indexed and searched by its first MAX_WORD characters: no one types more,
# and PostgreSQL refuses a lexeme over 2047 bytes (a whole load would fail on one record).
MAX_WORD = 100

# Dropped from queries (never from the index) when other words remain, so that "the history
# of hong kong" finds "History of Hong Kong".
STOPWORDS = frozenset(
    "a an and are as at be by for from in into is of on or the to with de da do dos das e".split()
)


def normalize(text: str) -> str:
    """Case-folded NFKC text without Latin accents."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    text = _COMBINING_ACCENTS.sub("", text)
    return unicodedata.normalize("NFC", text)


def segments(text: str) -> list[tuple[bool, str]]:
    """(is_cjk, run) for each run of word characters of the normalised text."""
    normal = _APOSTROPHE_S.sub("", normalize(text))
    return [(bool(m.group(1)), m.group(0)) for m in _SEGMENT.finditer(normal)]


def compact(text: str) -> str:
    """The normalised words of ``text`` joined by single spaces (none between two CJK runs,
    where a space is only a cataloguer's habit): what "the same title" means."""
    out: list[str] = []
    previous_cjk = False
    for is_cjk, run in segments(text):
        if out and not (is_cjk and previous_cjk):
            out.append(" ")
        out.append(run)
        previous_cjk = is_cjk
    return "".join(out)


def cjk_tokens(run: str) -> list[str]:
    """Index tokens of a CJK run: its bigrams and its characters."""
    return [run[i : i + 2] for i in range(len(run) - 1)] + list(run)


def index_tokens(text: str | None) -> set[str]:
    """Tokens under which ``text`` is found."""
    if not text:
        return set()
    out: set[str] = set()
    previous = ""
    for is_cjk, run in segments(text):
        if is_cjk:
            out.update(cjk_tokens(run))
            if previous:
                # "香港 歷史": the space is a cataloguer's habit, so "香港歷史" finds it too.
                out.add(previous[-1] + run[0])
            previous = run
        else:
            out.add(run[:MAX_WORD])
            previous = ""
    return out


def query_terms(text: str) -> list[str]:
    """The tokens a text must all have to match the query ``text``."""
    words: list[str] = []
    cjk: list[str] = []
    for is_cjk, run in segments(text):
        if not is_cjk:
            words.append(run[:MAX_WORD])
        elif len(run) == 1:
            cjk.append(run)
        else:
            cjk.extend(run[i : i + 2] for i in range(len(run) - 1))
    content = [w for w in words if w not in STOPWORDS]
    if content or cjk:
        words = content
    return list(dict.fromkeys(words + cjk))
