"""Rendering notices from the template files, in English and Traditional Chinese."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from services.notifier.adapters.rendering import NoticeRenderer
from services.notifier.domain.context import notice_context
from services.notifier.domain.kinds import NOTICE_KINDS
from tests.unit.notifier.sample import EDUHK, notice_event

FULL = {
    "title": "Pride & Prejudice",
    "due_date": date(2026, 12, 1),
    "pickup_by": date(2026, 12, 6),
    "pickup_location": "MMW Library circulation counter",
    "transaction_ref": "TRN-0001",
    "rule": "HKPL-03",
    "reason": "reserved by another reader",
    "amount_minor": 3000,
    "currency": "HKD",
    "occurred_at": datetime(2026, 12, 5, 3, 0, tzinfo=UTC),
}

renderer = NoticeRenderer()


@pytest.mark.parametrize("language", ["en", "zh-Hant"])
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_every_kind_renders_in_both_languages_with_the_librarys_contact(
    kind: str, language: str
) -> None:
    out = renderer.render(notice_event(kind=kind, language=language, **FULL), EDUHK)
    assert out.language == language
    assert out.subject and "\n" not in out.subject
    for part in (out.text, out.html):
        assert "hkall@eduhk.example.hk" in part
    name = "香港教育大學圖書館" if language == "zh-Hant" else EDUHK.name
    assert name in out.text and name in out.html
    assert out.html.lstrip().startswith("<!DOCTYPE html>")
    # The address never reaches a template.
    assert "chan.taiman@example.org" not in out.text + out.html + out.subject


def test_ill_arrived_gives_place_and_last_pickup_day_hkall_05_06() -> None:
    event = notice_event(pickup_by=date(2026, 12, 6))
    en = renderer.render(event, EDUHK)
    assert en.subject == "Ready for pickup by 2026-12-06: Pride and Prejudice"
    assert "Pickup location:   MMW Library circulation counter" in en.text
    assert "Collect by:        2026-12-06" in en.text
    assert "goes back to\nthe lending library, without further notice" in en.text

    zh = renderer.render(event.model_copy(update={"language": "zh-Hant"}), EDUHK)
    assert zh.subject == "館際互借書籍已到館，請於2026年12月6日或之前領取：《Pride and Prejudice》"
    assert "領取期限：2026年12月6日" in zh.text
    assert "<strong>2026年12月6日</strong>" in zh.html


def test_recall_gives_the_new_due_date_hkall_11_mala_06() -> None:
    out = renderer.render(notice_event(kind="recall", due_date=date(2026, 12, 11)), EDUHK)
    assert out.subject == "Recall: please return Pride and Prejudice by 2026-12-11"
    assert "Return by:     2026-12-11" in out.text


def test_overdue_names_due_date_days_late_and_that_the_fine_stands_hkall_15() -> None:
    event = notice_event(
        kind="overdue",
        language="zh-Hant",
        due_date=date(2026, 11, 20),
        # 00:30 in Hong Kong on 26 November is still the 25th in UTC: days count locally.
        occurred_at=datetime(2026, 11, 25, 16, 30, tzinfo=UTC),
    )
    out = renderer.render(event, EDUHK)
    assert out.subject == "逾期通知：《Pride and Prejudice》已於2026年11月20日到期"
    assert "逾期日數：6" in out.text
    assert "未有收到此通知並不豁免罰款" in out.text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Transaction Reference Number:  TRN-20261206-0007"),
        ("zh-Hant", "交易參考編號：TRN-20261206-0007"),
    ],
)
def test_renewal_result_shows_new_due_date_and_reference_hkall_13_hkpl_06(
    language: str, expected: str
) -> None:
    event = notice_event(
        kind="renewal_approved",
        language=language,
        due_date=date(2026, 12, 20),
        transaction_ref="TRN-20261206-0007",
    )
    out = renderer.render(event, EDUHK)
    assert expected in out.text
    assert "TRN-20261206-0007" in out.subject and "TRN-20261206-0007" in out.html
    assert ("2026-12-20" if language == "en" else "2026年12月20日") in out.text


def test_renewal_denied_names_the_rule_that_refused_hkpl_03() -> None:
    event = notice_event(
        kind="renewal_denied",
        rule="HKPL-03",
        reason="another reader has reserved it",
        due_date=date(2026, 12, 8),
    )
    out = renderer.render(event, EDUHK)
    assert "Reason:        another reader has reserved it (HKPL-03)" in out.text
    assert "2026-12-08 (unchanged)" in out.text


def test_fine_and_suspension_show_money_in_the_patrons_language_hkall_18_19() -> None:
    fine = renderer.render(
        notice_event(kind="fine", language="zh-Hant", amount_minor=3000, currency="HKD"), EDUHK
    )
    assert fine.subject == "閣下的帳戶新增費用港幣30.00元"
    suspension = renderer.render(
        notice_event(kind="suspension", rule="HKALL-18", reason="a recalled book is overdue"),
        EDUHK,
    )
    assert "a recalled book is overdue (HKALL-18)" in suspension.text


def test_html_part_is_escaped_and_text_part_is_not() -> None:
    out = renderer.render(notice_event(title="Pride & <Prejudice>"), EDUHK)
    assert "Pride &amp; &lt;Prejudice&gt;" in out.html
    assert "Pride & <Prejudice>" in out.text and "Pride & <Prejudice>" in out.subject


def test_a_newline_in_a_title_cannot_break_the_subject_line() -> None:
    out = renderer.render(notice_event(title="Line one\nBcc: x@example.org"), EDUHK)
    assert out.subject == "Ready for pickup by 2026-12-01: Line one Bcc: x@example.org"


def test_greeting_without_a_name() -> None:
    out = renderer.render(notice_event(patron_name=None, language="zh-Hant"), EDUHK)
    assert out.text.startswith("讀者您好：\n\n")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_library_folder_overrides_in_lookup_order(tmp_path: Path) -> None:
    _write(tmp_path / "eduhk/en/recall.subject.txt.j2", "EdUHK recall: {{ title }}")
    _write(tmp_path / "eduhk/en/_signature.txt.j2", "-- EdUHK Library, {{ library.email }}")
    custom = NoticeRenderer(extra_dirs=[tmp_path])

    en = custom.render(notice_event(kind="recall", due_date=date(2026, 12, 1)), EDUHK)
    assert en.subject == "EdUHK recall: Pride and Prejudice"
    assert "-- EdUHK Library, hkall@eduhk.example.hk" in en.text
    # The patron's language wins over the library's English wording.
    zh = custom.render(
        notice_event(kind="recall", language="zh-Hant", due_date=date(2026, 12, 1)), EDUHK
    )
    assert zh.subject.startswith("催還通知")
    # Another library is not affected.
    other = custom.render(
        notice_event(kind="recall", library="hku", due_date=date(2026, 12, 1)),
        EDUHK.__class__(code="hku", name="HKU Libraries", email="ill@hku.example.hk"),
    )
    assert other.subject.startswith("Recall:")


def test_a_misspelt_variable_in_an_edited_template_is_an_error_not_a_blank(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "eduhk/en/fine.subject.txt.j2", "Fine: {{ ammount }}")
    with pytest.raises(UndefinedError):
        NoticeRenderer(extra_dirs=[tmp_path]).render(
            notice_event(kind="fine", amount_minor=100, currency="HKD"), EDUHK
        )


def test_context_holds_formatted_values_and_no_address() -> None:
    context = notice_context(notice_event(kind="overdue", language="zh-Hant", **FULL), EDUHK)
    assert context["due_date"] == "2026年12月1日"
    assert context["amount"] == "港幣30.00元"
    assert context["occurred_on"] == "2026年12月5日"
    assert context["days_overdue"] == 4
    assert context["library"]["name"] == "香港教育大學圖書館"
    assert "email" not in context


def test_the_demo_federation_signs_chinese_notices_with_each_librarys_chinese_name() -> None:
    # deploy/federation.toml carries every library's Traditional Chinese name, so a patron who
    # reads Chinese never sees the English name alone.
    from services.notifier.adapters.libraries import load_library_contacts

    contacts = load_library_contacts()
    assert all(c.names.get("zh-Hant") for c in contacts.values())
    kwnc = contacts["kwnc"]
    out = renderer.render(notice_event(kind="recall", language="zh-Hant", **FULL), kwnc)
    assert "澳門鏡湖護理學院圖書館" in out.text and "澳門鏡湖護理學院圖書館" in out.html
