"""Notices rendered from template files a library can edit (Jinja2, text and HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from libs.common.contracts.events import NoticeRequested
from services.notifier.domain.context import notice_context
from services.notifier.domain.kinds import language_for
from services.notifier.domain.library import LibraryContact
from services.notifier.domain.templates import Part, template_candidates

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str
    language: str


class NoticeRenderer:
    """Renders a notice from the first matching template (lookup order in templates/README).

    ``extra_dirs`` are searched before the built-in templates, so a deployment can keep
    its libraries' wording outside the code. Jinja reloads a file whose modification time
    changed, so an edited template is used without a restart.
    """

    def __init__(self, extra_dirs: Sequence[Path] = ()) -> None:
        search_path = [str(Path(d)) for d in extra_dirs] + [str(BUILTIN_TEMPLATES)]
        self._env = Environment(
            loader=FileSystemLoader(search_path, encoding="utf-8"),
            # Only the HTML part is escaped: titles like "Pride & Prejudice" must stay as
            # written in the plain-text part and the subject.
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, notice: NoticeRequested, library: LibraryContact) -> RenderedNotice:
        language = language_for(notice.language)
        context = notice_context(notice, library)
        # {% extends %} takes a single template, so the frame is chosen here from the
        # lookup order the context carries.
        context["layout"] = self._env.select_template(context["layout"])
        context["signature"] = self._env.select_template(context["signature"])

        def part(name: Part) -> str:
            names = template_candidates(notice.kind, language, library.code, name)
            return self._env.select_template(names).render(context)

        # A subject is one header line: collapsing whitespace also keeps a newline in a
        # title from breaking the message headers.
        subject = " ".join(part("subject").split())
        return RenderedNotice(
            subject=subject,
            text=part("text"),
            html=part("html"),
            language=language,
        )
