"""HKPL-09: accompanying material names its set's main item, and a refusal says so."""

from __future__ import annotations

from services.circulation.domain.items import main_item_refusal
from tests.unit.circulation.builders import book, book_with_disc


def test_hkpl_09_the_main_item_of_the_same_set_is_accepted():
    main, _ = book_with_disc("S1")
    assert main_item_refusal("S1", main.item_id, main) is None


def test_hkpl_09_anything_but_a_main_item_of_the_set_is_refused_naming_the_rule():
    _, disc = book_with_disc("S1")
    other_main, _ = book_with_disc("S2")
    for named, found in (
        ("nowhere", None),  # no such item in this library
        (disc.item_id, disc),  # accompanying material itself
        (other_main.item_id, other_main),  # the main item of another set
        ("I9", book("I9")),  # an item of no set
    ):
        refusal = main_item_refusal("S1", named, found)
        assert refusal is not None, named
        assert refusal.rule == "HKPL-09"
        assert refusal.code == "invalid_main_item"
        assert named in refusal.reason and "HKPL-09" in refusal.reason
