"""The local SMTP server: real SMTP in, readable messages out, refusals on demand."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from libs.common.clock import ManualClock
from services.notifier.adapters.mailbox import Mailbox


def message(subject: str = "Hello", to: str = "reader@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Library <ill@library.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")
    return msg


async def send(box: Mailbox, msg: EmailMessage) -> None:
    await aiosmtplib.send(
        msg, hostname=box.host, port=box.port, local_hostname="localhost", start_tls=False
    )


async def test_it_listens_on_a_free_port_and_keeps_what_it_receives(
    mailbox: Mailbox, clock: ManualClock
) -> None:
    assert mailbox.host == "127.0.0.1" and mailbox.port > 0
    await send(mailbox, message("預約資料已可領取"))
    await send(mailbox, message("Second", to="other@example.org"))

    first, second = await mailbox.wait_for(2)
    assert first.subject == "預約資料已可領取"
    assert first.text == "plain words\n" and first.html == "<p>html words</p>\n"
    assert first.mail_from == "ill@library.example"
    assert first.received_at == clock.now()
    assert [m.subject for m in mailbox.messages(to="other@example.org")] == ["Second"]
    assert mailbox.get(second.id) == second
    summary = first.summary()
    assert summary["subject"] == "預約資料已可領取" and "raw" not in summary
    mailbox.clear()
    assert mailbox.messages() == []


async def test_it_refuses_the_next_n_messages_then_accepts(mailbox: Mailbox) -> None:
    mailbox.refuse_next(2)
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(mailbox, message())
        assert refused.value.code == 451
    await send(mailbox, message())
    assert mailbox.refused == 2 and len(mailbox.messages()) == 1

    mailbox.refuse_always(code=554)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(mailbox, message())
    assert refused.value.code == 554
    mailbox.accept_all()
    await send(mailbox, message())
    assert len(mailbox.messages()) == 2


async def test_messages_written_to_a_folder_are_read_back_after_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    folder = tmp_path / "mail"
    async with Mailbox(folder=folder, clock=clock) as box:
        await send(box, message("Kept on disk"))
    assert len(list(folder.glob("*.eml"))) == 1

    async with Mailbox(folder=folder, clock=clock) as box:
        [kept] = box.messages()
        assert kept.subject == "Kept on disk"
        assert kept.rcpt_tos == ("reader@example.org",)
        assert kept.mail_from == "ill@library.example"
        assert kept.received_at == clock.now()
        await send(box, message("After restart"))
        assert [m.id for m in box.messages()] == [1, 2]
    assert len(list(folder.glob("*.eml"))) == 2


async def test_port_is_unknown_until_started() -> None:
    box = Mailbox()
    with pytest.raises(RuntimeError):
        _ = box.port
    assert not box.running
