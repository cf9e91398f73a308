"""The search document of a record."""

from collections import Counter

from services.catalog.domain.directory import Directory, Library
from services.catalog.domain.indexing import (
    SAMPLE_LEVELS,
    build_document,
    holders_mask,
    rank_key,
    sample_tokens,
    stored_mask,
)

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


# -- more libraries than the 64-bit column has bits ------------------------------------------

MANY = Directory.of([Library(f"l{n:03d}", n, "HKALL") for n in range(200)])


def test_holders_mask_columns_of_the_first_63_libraries_are_as_they_were():
    for mask in (0, 0b101, (1 << 63) - 1):
        assert stored_mask(mask) == (mask, None)
        assert holders_mask(mask, None) == mask


def test_holders_mask_columns_of_libraries_numbered_63_and_on():
    for bits in ([63], [69], [0, 69], [5, 62, 63, 64, 199], list(range(200))):
        mask = sum(1 << b for b in bits)
        libs, more = stored_mask(mask)
        assert -(2**63) <= libs < 0  # fits the signed column; its sign says "and more"
        assert more is not None
        assert holders_mask(libs, more) == mask


def test_a_record_held_only_beyond_the_63rd_library_is_held():
    d = build_document(
        1,
        title="Seventy",
        authors=[],
        subjects=[],
        isbns=[],
        issn=None,
        language="eng",
        material_type="book",
        holdings=[("l069", "AVAILABLE")],
        directory=MANY,
    )
    assert d.libs == 1 << 69
    assert {"lib_l069", "av_l069", "con_hkall"} <= set(d.tokens)
    assert stored_mask(d.libs)[0] != 0  # a search's "held at all" test on the row


def test_rank_keys_of_up_to_63_holders_are_unchanged_and_more_rank_as_the_widest():
    for holders in (1, 2, 63):
        assert rank_key(holders, 9) == ((64 - holders) << 32) | ((9 * 2654435761) & 0xFFFFFFFF)
    assert rank_key(200, 9) == rank_key(64, 9) < rank_key(63, 9)
    assert rank_key(200, 9) >= 0


def test_library_numbers_have_no_limit():
    taken = Directory.of([Library("a", 0), Library("b", 2)])
    free = iter(taken.next_bits())
    assert [next(free) for _ in range(3)] == [1, 3, 4]
    assert MANY.codes_in(MANY.mask(["l000", "l150", "l199"])) == ["l000", "l150", "l199"]
