"""The languages pages are shown in: English, and Traditional Chinese for the Hong Kong and
Macau patrons. A page's text is written in English and looked up here; a text with no
translation is shown in English."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = {"en": "English", "zh-Hant": "繁體中文"}
DEFAULT_LANGUAGE = "en"
#: the patron's choice, remembered by the browser (for every page of the federation)
LANGUAGE_COOKIE = "illfed_lang"

#: what the shared layout and error pages say
SHARED: dict[str, str] = {
    "Skip to the content": "跳至內容",
    "Language": "語言",
    "Change": "更改",
    "Sign in": "登入",
    "Sign out": "登出",
    "Signed in as": "已登入：",
    "Back": "返回",
    "Home": "主頁",
    "Not found": "找不到",
    "Forbidden": "禁止存取",
    "Not authenticated": "未登入",
    "Something went wrong on our side; the operators have been told.": (
        "系統出現問題，已通知營運人員。"
    ),
    "Internal error": "內部錯誤",
    "This form cannot be accepted": "無法接受此表格",
    "The form was not sent from this site, or it has expired. Go back, reload the page and "
    "send it again.": "此表格並非由本網站發出，或已過期。請返回、重新載入頁面後再遞交。",
    "The form is not filled in correctly": "表格填寫不正確",
    "Please try again.": "請再試一次。",
    "Rule": "規則",
}


class Translator:
    """``t("Sign in")`` in the page's language."""

    def __init__(self, language: str, messages: Mapping[str, Mapping[str, str]]) -> None:
        self.language = language
        self.messages = messages.get(language, {})

    def __call__(self, text: str, **values: object) -> str:
        out = self.messages.get(text, text)
        return out.format(**values) if values else out


def merged(*catalogues: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The Chinese catalogues of the shared layout and a service's pages, as one."""
    zh: dict[str, str] = {}
    for catalogue in catalogues:
        zh.update(catalogue)
    return {"zh-Hant": zh}


def chosen_language(cookie: str | None, accept_language: str | None) -> str:
    """The patron's choice (the cookie), else the browser's first language we have."""
    if cookie is not None and cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-Hant"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
