"""Which libraries the catalogue knows and the consortium each belongs to.

The catalogue numbers the libraries: library number ``n`` is bit ``n`` of the mask of the
libraries holding a record (``indexing.SearchDocument.libs``), which is how facets count
holders and how the static rank knows how many libraries hold a record. Numbers are never
reused and there is no limit to them; ``indexing`` says how the mask is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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

    def next_bits(self) -> Iterable[int]:
        """The numbers not given to any library yet, lowest first (without end)."""
        used = {lib.bit for lib in self.libraries.values()}
        n = 0
        while True:
            if n not in used:
                yield n
            n += 1
