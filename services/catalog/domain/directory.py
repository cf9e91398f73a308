"""Which libraries the catalogue knows and the consortium each belongs to.

The catalogue keeps one bit per library in every record's search row (which libraries hold
it), so it numbers the libraries; 63 fit in the signed 64-bit column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_LIBRARIES = 63


@dataclass(frozen=True, slots=True)
class Library:
    code: str
    bit: int
    consortium: str | None = None


@dataclass(frozen=True)
class Directory:
    libraries: Mapping[str, Library]

    @classmethod
    def of(cls, libraries: Iterable[Library]) -> Directory:
        return cls({lib.code: lib for lib in libraries})

    def bit(self, code: str) -> int:
        return self.libraries[code].bit

    def consortium_of(self, code: str) -> str | None:
        lib = self.libraries.get(code)
        return lib.consortium if lib else None

    def members(self, consortium: str) -> list[str]:
        return sorted(c for c, lib in self.libraries.items() if lib.consortium == consortium)

    def mask(self, codes: Iterable[str]) -> int:
        mask = 0
        for code in codes:
            mask |= 1 << self.libraries[code].bit
        return mask

    def codes_in(self, mask: int) -> list[str]:
        return [code for code, lib in self.libraries.items() if mask >> lib.bit & 1]
