"""Who a notice comes from: the patron's home library, with its name and contact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LibraryContact:
    code: str
    name: str
    email: str
    timezone: str = "Asia/Hong_Kong"
    # Names in other languages, by language tag; the federation file may leave them out.
    names: Mapping[str, str] = field(default_factory=dict)

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.name


class UnknownLibrary(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no library with code {code!r} in the federation")
        self.code = code
