"""The notifier's settings: the mail server, the template folder and the retry limits come
from ILLFED_NOTIFIER_* variables, and unsafe or mistyped ones stop the service."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from libs.common.contracts.events import NoticeRequested
from services.notifier.adapters.libraries import load_library_contacts
from services.notifier.adapters.smtp import SmtpSettings
from services.notifier.settings import NotifierSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ILLFED_NOTIFIER_"):
            monkeypatch.delenv(name)


def test_without_a_mail_server_notices_go_to_the_local_mailbox() -> None:
    settings = NotifierSettings()
    assert settings.smtp() is None
    assert settings.retry().max_attempts == 8


def test_a_real_mail_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_PORT", "2587")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_USERNAME", "notifier")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_ENVELOPE_FROM", "bounces@illfed.example")
    monkeypatch.setenv("ILLFED_NOTIFIER_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("ILLFED_NOTIFIER_RETRY_FIRST_DELAY_SECONDS", "10")

    settings = NotifierSettings()
    smtp = settings.smtp()
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.start_tls, smtp.use_tls) == (
        "smtp.example.org",
        2587,
        True,  # STARTTLS unless told otherwise
        False,
    )
    assert smtp.username == "notifier"
    assert smtp.password is not None and smtp.password.get_secret_value() == "s3cret"
    assert smtp.envelope_from == "bounces@illfed.example"
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(smtp)
    retry = settings.retry()
    assert (retry.max_attempts, retry.first_delay) == (4, timedelta(seconds=10))


def test_implicit_tls_replaces_starttls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_PORT", "465")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_USE_TLS", "true")
    smtp = NotifierSettings().smtp()
    assert smtp is not None and (smtp.use_tls, smtp.start_tls) == (True, False)


def test_a_password_is_never_sent_in_clear_text_to_a_remote_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_START_TLS", "false")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_USERNAME", "notifier")
    monkeypatch.setenv("ILLFED_NOTIFIER_SMTP_PASSWORD", "s3cret")
    with pytest.raises(ValidationError, match="start_tls or use_tls"):
        NotifierSettings().smtp()
    # On this machine's loopback there is no network to cross.
    assert SmtpSettings(host="127.0.0.1", username="u", password="p").username == "u"
    assert SmtpSettings(host="localhost", username="u", password="p").username == "u"


def test_the_template_folder_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ILLFED_NOTIFIER_TEMPLATE_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="not a folder"):
        NotifierSettings()
    monkeypatch.setenv("ILLFED_NOTIFIER_TEMPLATE_DIR", str(tmp_path))
    assert NotifierSettings().template_dir == tmp_path


def test_the_template_folder_comes_before_the_built_in_wording(tmp_path: Path) -> None:
    own = tmp_path / "hku" / "en"
    own.mkdir(parents=True)
    (own / "recall.subject.txt.j2").write_text("HKU recalls {{ title }}", encoding="utf-8")
    renderer = NotifierSettings(template_dir=tmp_path).renderer()
    event = NoticeRequested(
        notice_id="n-1",
        kind="recall",
        library="hku",
        patron_ref="hku:p-1",
        email="reader@example.org",
        title="Walden",
        due_date=date(2026, 12, 10),
    )
    rendered = renderer.render(event, load_library_contacts()["hku"])
    assert rendered.subject == "HKU recalls Walden"
    assert "2026-12-10" in rendered.text  # the parts not overridden stay the federation's
