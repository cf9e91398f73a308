"""Which template file a notice uses: the lookup order a library can rely on.

For a kind, a language and a home library, the first file that exists wins:

1. ``<library>/<language>/<file>`` — the library's own wording in the patron's language;
2. ``<language>/<file>`` — the federation's wording in the patron's language;
3. ``<library>/en/<file>`` and 4. ``en/<file>`` — English, when no template exists in the
   patron's language (the patron's language wins over the library's own wording).
"""

from __future__ import annotations

import re
from typing import Literal

from services.notifier.domain.kinds import DEFAULT_LANGUAGE, NOTICE_KINDS, language_for

Part = Literal["subject", "text", "html"]
PARTS: tuple[Part, ...] = ("subject", "text", "html")
_SUFFIXES: dict[Part, str] = {
    "subject": "subject.txt.j2",
    "text": "txt.j2",
    "html": "html.j2",
}
# Shared pieces every kind's templates pull in (the library's signature, the HTML frame).
LAYOUTS: tuple[str, ...] = ("_layout.html.j2", "_signature.txt.j2")

# A library code becomes a folder name, so only plain codes may name an override folder.
_SAFE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def file_name(kind: str, part: Part) -> str:
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind: {kind!r}")
    return f"{kind}.{_SUFFIXES[part]}"


def lookup_order(name: str, language: str, library: str | None) -> list[str]:
    """Template names to try, best first, for a file ``name`` (see the module docstring)."""
    languages = [language_for(language)]
    if DEFAULT_LANGUAGE not in languages:
        languages.append(DEFAULT_LANGUAGE)
    own = library if library and _SAFE_CODE.match(library) else None
    names: list[str] = []
    for lang in languages:
        if own:
            names.append(f"{own}/{lang}/{name}")
        names.append(f"{lang}/{name}")
    return names


def template_candidates(kind: str, language: str, library: str | None, part: Part) -> list[str]:
    return lookup_order(file_name(kind, part), language, library)
