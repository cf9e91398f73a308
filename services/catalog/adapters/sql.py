"""Small SQL helpers shared by the catalogue's repositories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Bound parameters per statement stay well under SQLite's limit (32766) and PostgreSQL's
# (65535) whatever the number of columns.
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
