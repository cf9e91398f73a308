"""Search text: normalisation and CJK tokens (the same on both sides of a search)."""

from hypothesis import given
from hypothesis import strategies as st

from services.catalog.domain.text import compact, index_tokens, normalize, query_terms


def test_normalize_folds_case_width_and_accents():
    assert normalize("ＨＯＮＧ ＫＯＮＧ １９９７") == "hong kong 1997"
    assert normalize("Literatura de São Tomé") == "literatura de sao tome"
    assert normalize("Straße") == "strasse"
    assert normalize("香港歷史") == "香港歷史"  # Traditional stays Traditional


def test_cjk_run_is_indexed_as_bigrams_and_characters():
    assert index_tokens("香港歷史") == {"香港", "港歷", "歷史", "香", "港", "歷", "史"}


def test_mixed_scripts_split_into_words_and_cjk_runs():
    assert index_tokens("2047年香港: Hong Kong's future") == {
        "2047",
        "年香",
        "香港",
        "年",
        "香",
        "港",
        "hong",
        "kong",
        "future",
    }


def test_query_two_cjk_characters_is_one_bigram():
    assert query_terms("香港") == ["香港"]
    assert query_terms("香港歷史") == ["香港", "港歷", "歷史"]
    assert query_terms("陳") == ["陳"]


def test_query_stopwords_are_dropped_when_other_words_remain():
    assert query_terms("The history of Hong Kong") == ["history", "hong", "kong"]
    assert query_terms("of the") == ["of", "the"]


def test_compact_is_what_the_same_title_means():
    assert compact("Hong Kong : a history /") == compact("HONG KONG -- A History")


cjk_text = st.text(
    alphabet=st.sampled_from("香港澳門歷史文學教育大學中國"), min_size=1, max_size=12
)


@given(cjk_text, st.data())
def test_every_cjk_substring_finds_its_text(text, data):
    """ "香港" finds "香港歷史": a query that is any part of a CJK text matches it."""
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    tokens = index_tokens(text)
    assert set(query_terms(text[start:end])) <= tokens


def test_cjk_words_spaced_by_the_cataloguer_are_found_unspaced():
    # Records often space CJK words ("香港 歷史", "香港：歷史"); patrons type them together.
    for title in ("香港 歷史", "香港：歷史", "Hong Kong 香港 歷史 讀本"):
        assert set(query_terms("香港歷史")) <= index_tokens(title), title
    assert set(query_terms("歷史讀本")) <= index_tokens("Hong Kong 香港 歷史 讀本")
    # A Latin word between two CJK runs still parts them.
    assert "港歷" not in index_tokens("香港 and 歷史")
