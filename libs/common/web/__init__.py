"""What the services' web pages share: a Jinja2 layout and its static files (served by the
service itself, every front-end file pinned and kept in the repository, never from a CDN),
cookies that are HttpOnly, SameSite and Secure, a CSRF token on every form, the patron's
language, and errors shown as a page in words (never a stack trace).

A service mounts its pages as a sub-application (:func:`libs.common.web.pages.web_app`), so
their errors are pages while its API keeps answering problem+json.
"""

from libs.common.web.pages import CsrfRefused, Pages, web_app

__all__ = ["CsrfRefused", "Pages", "web_app"]
