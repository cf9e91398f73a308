"""The e-mail a notice becomes, and the SMTP settings and error classes."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import aiosmtplib
import pytest
from aiosmtplib.email import flatten_message
from pydantic import ValidationError

from services.notifier.adapters import smtp
from services.notifier.adapters.rendering import NoticeRenderer, RenderedNotice
from services.notifier.adapters.smtp import (
    SmtpSettings,
    build_message,
    classify_smtp_error,
    message_id_for,
)
from tests.unit.notifier.sample import EDUHK, notice_event

SENT_AT = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)


def build(language: str = "zh-Hant") -> email.message.EmailMessage:
    rendered = NoticeRenderer().render(notice_event(language=language), EDUHK)
    return build_message(
        rendered,
        library=EDUHK,
        to="chan.taiman@example.org",
        notice_id="n-0001",
        sent_at=SENT_AT,
    )


def test_headers_name_the_library_the_patron_and_the_notice() -> None:
    message = build()
    assert message["From"] == "香港教育大學圖書館 <hkall@eduhk.example.hk>"
    assert message["To"] == "chan.taiman@example.org"
    assert message["Date"] == "Tue, 01 Dec 2026 01:30:00 +0000"
    assert message["Message-ID"] == "<notice.n-0001@eduhk.example.hk>"
    assert message["Content-Language"] == "zh-Hant"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_chinese_subject_and_sender_name_are_encoded_on_the_wire() -> None:
    wire = flatten_message(build(), utf8=False, cte_type="7bit")
    assert wire.isascii()
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"=?utf-8?") >= 2  # RFC 2047 encoded words
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Subject"].startswith("館際互借書籍已到館")
    assert parsed["From"].addresses[0].display_name == "香港教育大學圖書館"


def test_message_id_is_stable_and_safe() -> None:
    assert message_id_for("n-0001", "ill@hku.example.hk") == "<notice.n-0001@hku.example.hk>"
    odd = message_id_for("<weird id>@x", "ill@hku.example.hk")
    assert odd == message_id_for("<weird id>@x", "ill@hku.example.hk")
    assert odd.count("@") == 1 and " " not in odd


def test_a_plain_rendered_notice_builds_too() -> None:
    rendered = RenderedNotice(subject="S", text="t", html="<p>h</p>", language="en")
    message = build_message(
        rendered, library=EDUHK, to="a@example.org", notice_id="x", sent_at=SENT_AT
    )
    assert message["From"] == f"{EDUHK.name} <hkall@eduhk.example.hk>"


def test_settings() -> None:
    settings = SmtpSettings(
        host="smtp.example.org", port=587, start_tls=True, username="notifier", password="s3cret"
    )
    assert "s3cret" not in repr(settings)
    with pytest.raises(ValidationError):
        SmtpSettings(start_tls=True, use_tls=True)
    with pytest.raises(ValidationError):
        SmtpSettings(password="s3cret")
    with pytest.raises(ValidationError):
        SmtpSettings(port=0)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (aiosmtplib.SMTPDataError(451, "try later"), False),
        (aiosmtplib.SMTPDataError(554, "refused"), True),
        (aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@example.org"), True),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(450, "greylisted", "a@example.org")]
            ),
            False,
        ),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), False),
        (aiosmtplib.SMTPServerDisconnected("gone"), False),
        (aiosmtplib.SMTPNotSupported("no SMTPUTF8"), True),
    ],
)
def test_which_refusals_are_worth_retrying(
    error: aiosmtplib.SMTPException, permanent: bool
) -> None:
    assert classify_smtp_error(error)[0] is permanent


def test_the_notifiers_policy_writes_the_message_as_the_default_policy_does(monkeypatch) -> None:
    ours = build()
    monkeypatch.setattr(smtp, "POLICY", email.policy.default)
    theirs = build()
    # one class a kind of header, made once (the email package makes one per header)
    assert type(build()["Subject"]) is not type(theirs["Subject"])
    monkeypatch.undo()
    assert type(build()["Subject"]) is type(ours["Subject"])
    for message in (ours, theirs):
        message.set_boundary("notice-boundary")
    wire = flatten_message(ours, utf8=False, cte_type="7bit")
    assert wire == flatten_message(theirs, utf8=False, cte_type="7bit")
    assert b"=?utf-8?" in wire
