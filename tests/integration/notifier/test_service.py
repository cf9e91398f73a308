"""The notifier as a service: notice requests off the bus, mail over real SMTP on 127.0.0.1,
the operators' notice list and the demo mailbox over HTTP, settings from the environment.

Every test runs on SQLite and on PostgreSQL, against databases built by the migrations.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import date
from pathlib import Path

import httpx
import pytest

from libs.common.auth import client_secret
from libs.common.clock import ManualClock
from libs.common.settings import DEV_SECRET
from services.notifier.adapters.mailbox import Mailbox
from tests.integration.notifier.conftest import Certificate
from tests.integration.notifier.sample import notice_event
from tests.integration.notifier.service import (
    notice_row,
    publish_notice,
    running_notifier,
    settled,
    token,
    wait_for_status,
)

PATRON = "chan.taiman@example.org"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_mail_server_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the machine's environment says, these tests mail only their own servers.
    for name in ("SMTP_HOST", "TEMPLATE_DIR", "SMTP_USERNAME", "SMTP_PASSWORD"):
        monkeypatch.delenv(f"ILLFED_NOTIFIER_{name}", raising=False)


@pytest.fixture
def mail_server_env(monkeypatch: pytest.MonkeyPatch, no_mail_server_configured: None):
    def configure(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"ILLFED_NOTIFIER_{name.upper()}", str(value))

    return configure


# -- privacy: only the patron's home library gives the notifier an address -----------------


async def test_a_lender_cannot_have_another_librarys_patron_mailed(
    database_url: str, clock: ManualClock, no_mail_server_configured: None
) -> None:
    """A lender never handles a patron's address: a notice for an EdUHK patron sent by HKU
    (the lender) is dead-lettered with the reason, recorded nowhere and mailed to nobody;
    the same notice from EdUHK itself is delivered."""
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        _,
    ):
        mailbox: Mailbox = rt.extras["mailbox"]  # type: ignore[assignment]
        forged = notice_event(library="eduhk")
        await publish_notice(broker, "hku", forged, clock)
        from_a_service = notice_event(library="eduhk")
        await publish_notice(broker, "catalog", from_a_service, clock)
        await settled(broker)

        dead = broker.peek("notifier.notices.dlq")
        reasons = [m.headers["x-illfed-reason"] for m in dead]
        assert len(dead) == 2
        assert any("only the patron's home library may" in r for r in reasons)
        assert any("'catalog' may not send" in r for r in reasons)
        assert await notice_row(rt, forged.notice_id) is None
        assert await notice_row(rt, from_a_service.notice_id) is None

        genuine = notice_event(library="eduhk")
        await publish_notice(broker, "eduhk", genuine, clock)
        [mail] = await mailbox.wait_for(1)
        assert mail.rcpt_tos == (PATRON,)
        assert "Education University of Hong Kong" in mail.from_
        await wait_for_status(rt, genuine.notice_id, "sent")


# -- what operators and newcomers see over HTTP -------------------------------------------


async def test_operators_see_every_notice_with_its_status_and_failures_never_the_address(
    database_url: str, clock: ManualClock, no_mail_server_configured: None
) -> None:
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        http,
    ):
        mailbox: Mailbox = rt.extras["mailbox"]  # type: ignore[assignment]
        mailbox.refuse_next(1, code=550, text=f"5.1.1 <{PATRON}> no such user")
        refused = notice_event(kind="overdue", due_date=date(2026, 11, 20))
        await publish_notice(broker, "eduhk", refused, clock)
        await wait_for_status(rt, refused.notice_id, "failed")
        delivered = notice_event(kind="ill_cancelled", library="cityu", patron_ref="cityu:p-9")
        await publish_notice(broker, "cityu", delivered, clock)
        await wait_for_status(rt, delivered.notice_id, "sent")

        assert (await http.get("/api/v1/notices")).status_code == 401
        as_library = await http.get("/api/v1/notices/failed", headers=await token(http, "eduhk"))
        assert as_library.status_code == 403
        operator = await token(http, "operator")

        listing = await http.get("/api/v1/notices", headers=operator)
        assert listing.status_code == 200
        body = listing.json()
        by_id = {n["notice_id"]: n for n in body["items"]}
        assert set(by_id) == {refused.notice_id, delivered.notice_id}
        sent = by_id[delivered.notice_id]
        assert (sent["library"], sent["kind"], sent["patron_ref"]) == (
            "cityu",
            "ill_cancelled",
            "cityu:p-9",
        )
        assert (sent["status"], sent["attempts"]) == ("sent", 1)
        assert sent["sent_at"] is not None
        assert body["counts"]["sent"] == 1 and body["counts"]["failed"] == 1

        failed = await http.get("/api/v1/notices/failed", headers=operator)
        [shown] = failed.json()["items"]
        assert shown["notice_id"] == refused.notice_id
        assert (shown["status"], shown["attempts"], shown["library"]) == ("failed", 1, "eduhk")
        assert "refused permanently" in shown["last_error"]
        assert shown["has_address"] is False

        by_library = await http.get("/api/v1/notices?library=cityu", headers=operator)
        assert [n["notice_id"] for n in by_library.json()["items"]] == [delivered.notice_id]

        # The address and the name were erased with delivery, and never shown.
        for response in (listing, failed):
            assert PATRON not in response.text
            assert "Chan Tai Man" not in response.text
            assert all(
                "email" not in n and "email" not in n["payload"] for n in response.json()["items"]
            )


@pytest.fixture
def mailbox_on(monkeypatch: pytest.MonkeyPatch, no_mail_server_configured: None) -> None:
    monkeypatch.setenv("ILLFED_NOTIFIER_MAILBOX_ENABLED", "true")


def operator_basic() -> httpx.BasicAuth:
    return httpx.BasicAuth("operator", client_secret(DEV_SECRET, "operator"))


async def test_the_mailbox_page_and_api_show_the_mail_the_federation_sent(
    database_url: str, clock: ManualClock, mailbox_on: None
) -> None:
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        http,
    ):
        mailbox: Mailbox = rt.extras["mailbox"]  # type: ignore[assignment]
        await publish_notice(broker, "eduhk", notice_event(title="香港歷史"), clock)
        other = notice_event(kind="ill_unfilled", email="wong@example.org", title="Walden")
        await publish_notice(broker, "eduhk", other, clock)
        await mailbox.wait_for(2)

        operator = await token(http, "operator")
        api = (await http.get("/api/v1/mailbox", headers=operator)).json()["items"]
        assert [m["id"] for m in api] == sorted((m["id"] for m in api), reverse=True)
        subjects = " | ".join(m["subject"] for m in api)
        assert "香港歷史" in subjects and "Walden" in subjects
        filtered = (
            await http.get("/api/v1/mailbox", params={"to": "wong@example.org"}, headers=operator)
        ).json()
        assert [m["to"] for m in filtered["items"]] == ["wong@example.org"]

        page = await http.get("/mailbox", auth=operator_basic())
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "香港歷史" in page.text and "Walden" in page.text


async def test_the_mailbox_is_for_operators_only(
    database_url: str, clock: ManualClock, mailbox_on: None
) -> None:
    """The mails hold patrons' names, addresses and notices: no token, a library's or a
    patron's token, or a wrong secret is refused, on the API and on the page."""
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        http,
    ):
        await publish_notice(broker, "eduhk", notice_event(), clock)
        await rt.extras["mailbox"].wait_for(1)  # type: ignore[attr-defined]
        patron = {"Authorization": "Bearer " + rt_tokens(http).issue("p-1", "patron", "eduhk")}
        for path in ("/api/v1/mailbox", "/mailbox"):
            res = await http.get(path)
            assert res.status_code == 401, res.text
            assert res.headers["content-type"].startswith("application/problem+json")
            assert PATRON not in res.text
            for headers in (await token(http, "eduhk"), patron):
                res = await http.get(path, headers=headers)
                assert res.status_code == 403 and PATRON not in res.text
            res = await http.get(path, auth=httpx.BasicAuth("operator", "wrong"))
            assert res.status_code == 401 and PATRON not in res.text
            library = httpx.BasicAuth("eduhk", client_secret(DEV_SECRET, "eduhk"))
            assert (await http.get(path, auth=library)).status_code == 403
            res = await http.get(path, auth=operator_basic())
            assert res.status_code == 200 and PATRON in res.text
        # The page asks a browser for the operator's credentials.
        assert (await http.get("/mailbox")).headers["www-authenticate"].startswith("Basic")


async def test_the_mailbox_is_off_unless_the_deployment_turns_it_on(
    database_url: str, clock: ManualClock, no_mail_server_configured: None, monkeypatch
) -> None:
    monkeypatch.delenv("ILLFED_NOTIFIER_MAILBOX_ENABLED", raising=False)
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        http,
    ):
        await publish_notice(broker, "eduhk", notice_event(), clock)
        await rt.extras["mailbox"].wait_for(1)  # type: ignore[attr-defined]
        operator = await token(http, "operator")
        for path in ("/api/v1/mailbox", "/mailbox"):
            for auth in ({}, {"headers": operator}, {"auth": operator_basic()}):
                res = await http.get(path, **auth)
                assert res.status_code == 404, res.text
                assert res.json()["type"].endswith("no-mailbox") and PATRON not in res.text


def rt_tokens(http: httpx.AsyncClient):
    return http._transport.app.state.tokens  # type: ignore[attr-defined]


# -- a real mail server, configured by settings -------------------------------------------


async def test_with_a_mail_server_configured_notices_go_there_over_starttls_with_login(
    database_url: str, clock: ManualClock, certificate: Certificate, mail_server_env
) -> None:
    """ILLFED_NOTIFIER_SMTP_*: host, port, STARTTLS and credentials. The server refuses
    mail before STARTTLS and without login, so a delivered mail proves both were used;
    the demo mailbox is not started and its page says so."""
    async with Mailbox(
        "127.0.0.1",
        0,
        tls_context=certificate.server_context(),
        credentials={"notifier": "s3cret-pass"},
    ) as server:
        mail_server_env(
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_username="notifier",
            smtp_password="s3cret-pass",
            smtp_cert_bundle=certificate.cert,
            smtp_local_hostname="localhost",
        )
        async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
            rt,
            broker,
            http,
        ):
            assert "mailbox" not in rt.extras
            event = notice_event(kind="recall", due_date=date(2026, 12, 10), language="zh-Hant")
            await publish_notice(broker, "eduhk", event, clock)
            [mail] = await server.wait_for(1)
            assert mail.rcpt_tos == (PATRON,)
            assert mail.language == "zh-Hant"
            assert "2026年12月10日" in mail.subject + (mail.text or "")
            row = await wait_for_status(rt, event.notice_id, "sent")
            assert row["attempts"] == 1 and row["email"] is None

            res = await http.get("/api/v1/mailbox")
            assert res.status_code == 404
            assert res.json()["type"].endswith("no-mailbox")
        assert server.failed_logins == 0


async def test_a_wrong_smtp_password_ends_failed_and_visible_without_the_secret(
    database_url: str, clock: ManualClock, certificate: Certificate, mail_server_env
) -> None:
    async with Mailbox(
        "127.0.0.1",
        0,
        tls_context=certificate.server_context(),
        credentials={"notifier": "s3cret-pass"},
    ) as server:
        mail_server_env(
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_username="notifier",
            smtp_password="not-the-password",
            smtp_cert_bundle=certificate.cert,
            max_attempts=1,
        )
        async with running_notifier(database_url, clock) as (rt, broker, http):
            event = notice_event()
            await publish_notice(broker, "eduhk", event, clock)
            row = await wait_for_status(rt, event.notice_id, "failed")
            failed = await http.get("/api/v1/notices/failed", headers=await token(http, "operator"))
        assert server.messages() == [] and server.failed_logins >= 1
        assert "gave up after 1 attempts" in row["last_error"]
        assert "SMTPAuthenticationError" in row["last_error"]
        assert "not-the-password" not in json.dumps(failed.json())
        assert [n["notice_id"] for n in failed.json()["items"]] == [event.notice_id]


async def test_without_starttls_a_server_that_demands_it_gets_no_mail(
    database_url: str, clock: ManualClock, certificate: Certificate, mail_server_env
) -> None:
    """STARTTLS is a setting that takes effect: turned off, the same server refuses."""
    async with Mailbox("127.0.0.1", 0, tls_context=certificate.server_context()) as server:
        mail_server_env(
            smtp_host="127.0.0.1", smtp_port=server.port, smtp_start_tls="false", max_attempts=1
        )
        async with running_notifier(database_url, clock) as (rt, broker, _):
            event = notice_event()
            await publish_notice(broker, "eduhk", event, clock)
            row = await wait_for_status(rt, event.notice_id, "failed")
        assert server.messages() == []
        assert "STARTTLS" in row["last_error"]


# -- templates a library edits, kept outside the code -------------------------------------


async def test_a_library_edits_its_own_notices_in_the_configured_template_folder(
    database_url: str, clock: ManualClock, tmp_path: Path, mail_server_env
) -> None:
    """ILLFED_NOTIFIER_TEMPLATE_DIR: EdUHK's own wording and signature, in the patron's
    language, used for EdUHK's patrons only, and an edit is used without a restart or a
    release (HKALL-05, HKALL-06: the pickup place and day stay in the library's wording)."""
    own = tmp_path / "templates" / "eduhk" / "zh-Hant"
    own.mkdir(parents=True)
    subject = own / "ill_arrived.subject.txt.j2"
    subject.write_text("教大圖書館：《{{ title }}》已到，{{ pickup_by }}前領取", encoding="utf-8")
    (own / "_signature.txt.j2").write_text(
        "-- \n{{ library.name }}\n電話 2948 6000 · {{ library.email }}\n", encoding="utf-8"
    )
    mail_server_env(template_dir=tmp_path / "templates")
    async with running_notifier(database_url, clock, mailbox_port=_free_port()) as (
        rt,
        broker,
        _,
    ):
        mailbox: Mailbox = rt.extras["mailbox"]  # type: ignore[assignment]
        first = notice_event(language="zh-Hant", title="紅樓夢", pickup_by=date(2026, 12, 1))
        await publish_notice(broker, "eduhk", first, clock)
        [mail] = await mailbox.wait_for(1)
        assert mail.subject == "教大圖書館：《紅樓夢》已到，2026年12月1日前領取"
        assert "電話 2948 6000" in (mail.text or "")

        # Another library's patrons keep the federation's wording.
        cityu = notice_event(language="zh-Hant", library="cityu", title="紅樓夢")
        await publish_notice(broker, "cityu", cityu, clock)
        second = (await mailbox.wait_for(2))[1]
        assert second.subject.startswith("館際互借書籍已到館")
        assert "電話 2948 6000" not in (second.text or "")

        # The library edits its file while the notifier runs.
        subject.write_text("教大圖書館通知：《{{ title }}》可領取", encoding="utf-8")
        later = subject.stat().st_mtime + 10  # visible whatever the file system's clock grain
        os.utime(subject, (later, later))
        third_event = notice_event(language="zh-Hant", title="西遊記")
        await publish_notice(broker, "eduhk", third_event, clock)
        third = (await mailbox.wait_for(3))[2]
        assert third.subject == "教大圖書館通知：《西遊記》可領取"
