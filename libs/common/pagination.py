"""Cursor (keyset) pages: rows ordered by a unique column, a page at a time, the next page
starting after the last row seen. Unlike an offset, a cursor neither skips nor repeats a row
when rows are added or removed between two pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: pass back as the cursor for the next page; None on the last page
    next_cursor: Any


def page_size(limit: int | None) -> int:
    """A page size within bounds, whatever the caller asked for."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(limit, MAX_PAGE_SIZE))


def keyset(
    query: Select, column: ColumnElement[Any], after: Any, size: int, *, newest_first: bool = False
) -> Select:
    """``query`` ordered by ``column``, from the row after the cursor ``after`` (None: from
    the start), one row more than a page: the extra row says whether there is a next page."""
    query = query.order_by(column.desc() if newest_first else column).limit(size + 1)
    if after is not None:
        query = query.where(column < after if newest_first else column > after)
    return query


def cut(rows: Sequence[T], size: int, cursor_of: Callable[[T], Any]) -> Page[T]:
    """The page of the rows :func:`keyset` read, and the cursor for the next one."""
    items = list(rows[:size])
    return Page(items, cursor_of(items[-1]) if len(rows) > size else None)
