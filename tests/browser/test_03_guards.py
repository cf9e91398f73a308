"""What the pages refuse: a form without its CSRF token (403, said in words), another
library's staff at a desk, a page that needs a sign-in; errors shown in words; the start
page links every portal and desk, the dashboard, the mailbox and the API docs."""

from __future__ import annotations

import re

import httpx

from tests.browser.conftest import accessible, shot
from tests.browser.helpers import sign_in_desk, sign_in_patron


def test_a_form_without_its_csrf_token_is_refused(page, federation):
    sign_in_patron(page, federation, "hkpl", "HKPL000001", "demo-reader")
    # The renewal form, sent without its token: refused before anything is done.
    page.evaluate(
        "() => { document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove()); }"
    )
    page.locator("tr.loan input[type=checkbox]").first.check()
    with page.expect_response(re.compile("/portal/renewals")) as answer:
        page.get_by_role("button", name=re.compile("Renew selected|續借所選項目")).click()
    assert answer.value.status == 403
    text = page.inner_text("main")
    assert re.search("not sent from this site|並非由本網站發出", text)
    assert "Traceback" not in text
    accessible(page, "csrf-refused")


def test_a_post_from_elsewhere_is_refused(federation):
    # No CSRF cookie nor token at all (a form another site would send).
    res = httpx.post(
        federation.url("eduhk", "/portal/sign-in"),
        data={"identifier": "EDUHK000001", "secret": "demo-reader"},
    )
    assert res.status_code == 403
    assert "text/html" in res.headers["content-type"]


def test_another_librarys_staff_are_refused_at_a_desk(page, federation):
    # HKBU's staff, with HKBU's own credentials, at EdUHK's desk.
    sign_in_desk(page, federation, "eduhk", as_client="hkbu")
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert re.search("Forbidden|禁止存取", text)
    assert "a library's staff see only their own library" in text
    accessible(page, "other-desk-refused")
    # Signed in at HKBU's desk, EdUHK's desk still asks for EdUHK's staff.
    sign_in_desk(page, federation, "hkbu")
    page.wait_for_url(re.compile(r"/desk/$"))
    page.goto(federation.url("eduhk", "/desk/lending"))
    assert page.url.endswith("/desk/sign-in")
    # HKBU's desk cookie, sent to EdUHK's desk by hand: a token of another service, refused.
    cookie = next(c for c in page.context.cookies() if c["name"] == "illfed_hkbu_desk")
    res = httpx.get(
        federation.url("eduhk", "/desk/lending"),
        cookies={"illfed_eduhk_desk": cookie["value"]},
        follow_redirects=False,
    )
    assert res.status_code == 303 and res.headers["location"].endswith("/desk/sign-in")


def test_errors_are_pages_in_words(page, federation):
    sign_in_patron(page, federation, "eduhk", "EDUHK000001", "demo-reader")
    page.goto(federation.url("eduhk", "/portal/requests/no-such-request"))
    text = page.inner_text("main")
    assert re.search("Not found|找不到", text) and "no inter-library loan request" in text
    accessible(page, "not-found")
    page.goto(federation.url("eduhk", "/portal/sign-in"))
    page.get_by_label(re.compile("card number|圖書證號碼")).fill("EDUHK000001")
    page.get_by_label(re.compile("Password|密碼")).fill("wrong")
    page.get_by_role("button", name=re.compile("Sign in|登入")).click()
    assert re.search("Sign-in refused|登入被拒", page.inner_text("main"))
    accessible(page, "sign-in-refused")


def test_the_start_page_links_everything(page, federation):
    page.goto(federation.url("requests", "/"))
    accessible(page, "start")
    for code in ("eduhk", "hkbu", "cuhk", "hkpl"):
        assert page.locator(f"a[href='{federation.url(code, '/portal/')}']").count() == 1
        assert page.locator(f"a[href='{federation.url(code, '/desk/')}']").count() == 1
    assert page.locator(f"a[href='{federation.url('requests', '/dashboard/')}']").count() == 1
    assert page.locator(f"a[href='{federation.url('notifier', '/mailbox')}']").count() == 1
    text = page.inner_text("main")
    assert "EDUHK000001 / demo-reader" in text and federation.secret("operator") in text
    shot(page, "start")


def test_the_pages_work_from_the_keyboard_and_sign_out_ends_the_session(page, federation):
    sign_in_patron(page, federation, "eduhk", "EDUHK000003", "demo-reader")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=re.compile("Skip to the content|跳至內容"))
    assert skip.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    cookie = next(c for c in page.context.cookies() if c["name"] == "illfed_eduhk_session")
    page.get_by_role("button", name=re.compile("Sign out|登出")).click()
    page.wait_for_url(re.compile(r"/portal/sign-in"))
    # The token still signs, but its session has ended: the account is not shown.
    res = httpx.get(
        federation.url("eduhk", "/portal/account"),
        cookies={"illfed_eduhk_session": cookie["value"]},
        follow_redirects=False,
    )
    assert res.status_code == 303 and "/portal/sign-in" in res.headers["location"]
