"""Notice kinds, languages and the template lookup order."""

from __future__ import annotations

import pytest

from services.notifier.adapters.rendering import BUILTIN_TEMPLATES
from services.notifier.domain.kinds import (
    LANGUAGES,
    NOTICE_KINDS,
    REQUIRED_FIELDS,
    language_for,
    missing_fields,
)
from services.notifier.domain.templates import PARTS, file_name, template_candidates


def test_the_contract_kinds_and_languages_are_all_known() -> None:
    assert set(NOTICE_KINDS) == set(REQUIRED_FIELDS)
    assert len(NOTICE_KINDS) == 13
    assert LANGUAGES == ("en", "zh-Hant")


@pytest.mark.parametrize("language", ["en", "zh-Hant"])
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_every_kind_has_every_part_in_both_languages(kind: str, language: str) -> None:
    for part in PARTS:
        assert (BUILTIN_TEMPLATES / language / file_name(kind, part)).is_file()


def test_language_preference_falls_back_to_english() -> None:
    assert language_for("zh-Hant") == "zh-Hant"
    assert language_for("fr") == "en"
    assert language_for(None) == "en"


def test_missing_fields_per_kind_hkall_05_06_hkall_13_hkpl_06() -> None:
    # HKALL-05/06: an arrival notice without the pickup place or last day says nothing.
    assert missing_fields("ill_arrived", {"title": "T", "pickup_location": ""}) == [
        "pickup_location",
        "pickup_by",
    ]
    # HKALL-13, HKPL-06: an approved renewal needs its new due date and reference.
    assert missing_fields("renewal_approved", {"title": "T", "due_date": "2026-12-01"}) == [
        "transaction_ref"
    ]
    assert missing_fields("suspension", {}) == []
    with pytest.raises(ValueError):
        missing_fields("postcard", {})


def test_lookup_order_prefers_the_patrons_language_over_the_librarys_own_wording() -> None:
    assert template_candidates("recall", "zh-Hant", "eduhk", "text") == [
        "eduhk/zh-Hant/recall.txt.j2",
        "zh-Hant/recall.txt.j2",
        "eduhk/en/recall.txt.j2",
        "en/recall.txt.j2",
    ]
    assert template_candidates("recall", "en", "eduhk", "subject") == [
        "eduhk/en/recall.subject.txt.j2",
        "en/recall.subject.txt.j2",
    ]


def test_a_library_code_that_is_not_a_plain_name_gets_no_override_folder() -> None:
    assert template_candidates("fine", "en", "../etc", "html") == ["en/fine.html.j2"]
    assert template_candidates("fine", "en", None, "html") == ["en/fine.html.j2"]
    with pytest.raises(ValueError):
        template_candidates("postcard", "en", "eduhk", "html")
