"""The search document of a record."""

from collections import Counter

from services.catalog.domain.directory import Directory, Library
from services.catalog.domain.indexing import SAMPLE_LEVELS, build_document, sample_tokens

DIRECTORY = Directory.of(
    [
        Library("cityu", 0, "HKALL"),
        Library("eduhk", 1, "HKALL"),
        Library("um", 2, "MALA"),
    ]
)


def doc(holdings, record_id=7, **kw):
    fields = dict(
        title="香港歷史",
        authors=["劉智鵬"],
        subjects=["Hong Kong -- History"],
        isbns=["9789622099449"],
        issn=None,
        language="chi",
        material_type="book",
    )
    fields.update(kw)
    return build_document(record_id, holdings=holdings, directory=DIRECTORY, **fields)


def test_tokens_of_a_record():
    d = doc([("cityu", "AVAILABLE"), ("um", "ON_LOAN"), ("eduhk", "WITHDRAWN")])
    t = set(d.tokens)
    assert {"香港", "港歷", "t_香港", "劉智", "hong", "history", "isbn_9789622099449"} <= t
    assert {
        "mt_book",
        "lang_chi",
        "lib_cityu",
        "lib_um",
        "av_cityu",
        "av_",
        "con_hkall",
        "con_mala",
        "avc_hkall",
    } <= t
    assert "av_um" not in t and "avc_mala" not in t
    assert "lib_eduhk" not in t  # withdrawn
    assert d.libs == 0b101
    assert any(tok.startswith("x_") for tok in t)
    assert not any(tok.startswith("xm_") for tok in t)  # no subtitle


def test_whole_and_main_title_tokens():
    t = set(doc([("cityu", "AVAILABLE")], title="Macau: a cultural Janus").tokens)
    assert {tok[:2] for tok in t if tok.startswith("x")} == {"x_", "xm"}


def test_more_libraries_rank_first():
    wide = doc([("cityu", "AVAILABLE"), ("um", "AVAILABLE")], record_id=1)
    narrow = doc([("cityu", "AVAILABLE")], record_id=2)
    assert wide.rank_key < narrow.rank_key


def test_tsvector_and_text_forms():
    d = doc([("cityu", "AVAILABLE")])
    assert "'香港'" in d.as_tsvector() and "lib_cityu" in d.as_text().split()


def test_sample_tokens_are_nested_and_of_the_right_size():
    counts = Counter(tok for rid in range(1, 200_001) for tok in sample_tokens(rid))
    for level in SAMPLE_LEVELS:
        share = counts[f"smp_{level}"] / 200_000
        assert abs(share - 1 / level) < 0.15 / level, (level, share)
    for rid in range(1, 5000):
        toks = sample_tokens(rid)
        levels = [int(t.split("_")[1]) for t in toks]
        assert levels == sorted(levels) and all(
            lv in levels for lv in SAMPLE_LEVELS if lv < max(levels, default=0)
        )


def test_a_made_up_record_stays_within_what_postgresql_indexes():
    # PostgreSQL refuses a lexeme over 2047 bytes and a tsvector over 1 MB.
    words = [" ".join(f"w{s}x{i}" for i in range(3000)) for s in range(100)]
    d = doc([("cityu", "AVAILABLE")], title="Ж" * 1500, authors=["x" * 3000], subjects=words)
    assert max(len(t.encode()) for t in d.tokens) < 2047
    assert len(d.as_tsvector().encode()) < 1_048_575
    assert {"lib_cityu", "av_cityu", "t_" + "ж" * 100} <= set(d.tokens)
