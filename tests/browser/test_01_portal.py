"""A patron of EdUHK signs in, switches to Traditional Chinese, searches beyond the library in
Chinese, sees why a title can or cannot be requested, and requests one with the dry run's
answer shown first (HKALL-04); the lending library's staff ship it and the home library's
staff receive it through their desk pages; the patron sees it ready to pick up."""

from __future__ import annotations

import re

from tests.browser.conftest import accessible, shot
from tests.browser.helpers import sign_in_desk, sign_in_patron

TITLE = "澳門文學史"  # on the shelves of HKBU and CUHK, not of EdUHK


def request_and_receive(page, federation) -> tuple[str, str]:
    """HKALL-04, HKALL-05"""
    sign_in_patron(page, federation, "eduhk", "EDUHK000001", "demo-reader")
    accessible(page, "account")
    # The patron chooses Traditional Chinese; the choice is remembered.
    page.get_by_label("Language").select_option("zh-Hant")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("heading", name=re.compile("我的帳戶")).wait_for()
    page.get_by_role("link", name="搜尋", exact=True).click()
    page.get_by_label("書名、作者、主題或國際標準書號").fill(TITLE)
    page.get_by_label("本館以外").check()
    page.get_by_role("button", name="搜尋").click()
    result = page.locator("article.result", has=page.get_by_role("heading", name=TITLE)).first
    result.wait_for()
    accessible(page, "search-zh")
    assert "你可以向其他圖書館申請借閱此書" in result.inner_text()
    result.get_by_role("link", name=re.compile("申請借閱")).click()
    page.get_by_label("取書地點").select_option("tko")
    page.get_by_role("button", name="查核").click()
    assert "會：申請將送交借出圖書館" in page.locator("#dry-run-answer").inner_text()
    accessible(page, "dry-run")
    page.get_by_role("button", name="確認申請").click()
    page.wait_for_url(re.compile(r"/portal/requests/"))
    transaction = page.url.rsplit("/", 1)[1]
    accessible(page, "request-sent")

    # The lender (whoever the broker asked) answered by its policy: WillSupply. Its staff ship.
    lender = None
    for _ in range(50):
        page.reload()
        text = page.locator("dl.facts").inner_text()
        if "借出圖書館" in text and "借出館將提供" in text:
            break
        page.wait_for_timeout(200)
    for code in ("hkbu", "cuhk"):
        if federation.fed.library(code).names["zh-Hant"] in page.locator("dl.facts").inner_text():
            lender = code
    assert lender, page.locator("dl.facts").inner_text()
    desk = page.context.new_page()
    desk.test_name, desk.shots = page.test_name + "_desk", 0
    sign_in_desk(desk, federation, lender)
    desk.wait_for_url(re.compile(r"/desk/$"))
    # What waits for the lender's desk, linked to the list of it.
    todo = desk.locator("section", has=desk.get_by_role("heading", name="待處理"))
    accessible(desk, "desk-todo")
    todo.get_by_role("link", name="借出館將提供").click()
    row = desk.locator(f"tr.lending[data-txn='{transaction}']")
    accessible(desk, "lending-list")
    row.get_by_role("button", name=re.compile("寄出|Ship")).click()
    row = desk.locator(f"tr.lending[data-txn='{transaction}']")
    assert re.search("已借出|Loaned", row.locator(".state").inner_text())
    shot(desk, "shipped")

    # The home library's staff receive it at the pickup point.
    sign_in_desk(desk, federation, "eduhk")
    desk.wait_for_url(re.compile(r"/desk/$"))
    desk.get_by_role("link", name=re.compile("館際借入|ILL borrowing")).click()
    row = desk.locator(f"tr.borrowing[data-txn='{transaction}']")
    for _ in range(50):
        if row.get_by_role("button", name=re.compile("收件|Receive")).count():
            break
        desk.wait_for_timeout(200)
        desk.reload()
    accessible(desk, "borrowing-list")
    row.get_by_role("button", name=re.compile("收件|Receive")).click()
    assert re.search(
        "待取書|AwaitingPickup",
        desk.locator(f"tr.borrowing[data-txn='{transaction}'] .state").inner_text(),
    )
    shot(desk, "received")

    page.goto(federation.url("eduhk", "/portal/account"))
    line = page.locator(f"tr.ill-request[data-txn='{transaction}']")
    assert "可領取" in line.inner_text()
    accessible(page, "ready")
    page.get_by_role("link", name=TITLE).first.click()
    assert "你的書已可領取" in page.inner_text("main")
    accessible(page, "ready-detail")
    return transaction, lender


def test_patron_requests_beyond_their_library_and_the_loan_goes_round(page, federation):
    """HKALL-04, HKALL-05, HKALL-07: the request, then the patron collects the item, returns it
    at another service point of the home library, EdUHK ships it back and the lender checks it
    in: every staff step at a desk page."""
    transaction, lender = request_and_receive(page, federation)
    desk = page.context.new_page()
    desk.test_name, desk.shots = page.test_name + "_round", 0
    sign_in_desk(desk, federation, "eduhk")
    desk.wait_for_url(re.compile(r"/desk/$"))
    desk.goto(federation.url("eduhk", "/desk/borrowing"))
    row = desk.locator(f"tr.borrowing[data-txn='{transaction}']")
    row.get_by_role("button", name=re.compile("借予讀者|Lend to the patron")).click()
    row = desk.locator(f"tr.borrowing[data-txn='{transaction}']")
    assert re.search("已借出|CheckedOut", row.locator(".state").inner_text())
    barcode = row.locator("td").first.inner_text().split("·")[-1].strip()

    page.goto(federation.url("eduhk", "/portal/account"))
    loan = page.locator("tr.loan").filter(has_text=TITLE)
    assert federation.fed.library(lender).names["zh-Hant"] in loan.inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2}", loan.locator(".due").inner_text())
    accessible(page, "on-loan")

    desk.goto(federation.url("eduhk", "/desk/"))
    desk.get_by_label(re.compile("Item barcode|條碼")).nth(1).fill(barcode)
    desk.get_by_label(re.compile("Service point|服務點")).select_option("mmw")
    desk.get_by_role("button", name=re.compile("^(Check in|歸還)$")).click()
    assert re.search("Checked in|已歸還", desk.locator(".flash").inner_text())
    desk.goto(federation.url("eduhk", "/desk/borrowing"))
    row = desk.locator(f"tr.borrowing[data-txn='{transaction}']")
    row.get_by_role("button", name=re.compile("寄回|Ship back")).click()
    assert re.search(
        "已寄回|ShippedReturn",
        desk.locator(f"tr.borrowing[data-txn='{transaction}'] .state").inner_text(),
    )
    shot(desk, "shipped-back")

    sign_in_desk(desk, federation, lender)
    desk.wait_for_url(re.compile(r"/desk/$"))
    desk.goto(federation.url(lender, "/desk/lending"))
    row = desk.locator(f"tr.lending[data-txn='{transaction}']")
    for _ in range(50):
        if re.search("已寄回|ReturnShipped", row.locator(".state").inner_text()):
            break
        desk.wait_for_timeout(200)
        desk.reload()
    row.get_by_role("button", name=re.compile("^(Check in|歸還)$")).click()
    assert re.search(
        "借閱完成|LoanCompleted",
        desk.locator(f"tr.lending[data-txn='{transaction}'] .state").inner_text(),
    )
    shot(desk, "checked-in")
