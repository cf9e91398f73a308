"""A token query (``domain.query``) as a SQL condition on ``record_search``, per database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Text, bindparam, cast, column, literal_column, select, table
from sqlalchemy.dialects.postgresql import TSQUERY

from services.catalog.adapters.tables import FTS_TABLE
from services.catalog.domain.query import Node, render_fts5, render_tsquery

_fts = table(FTS_TABLE, column("rowid"))


def matches(dialect: str, node: Node, cols: Any) -> ColumnElement[bool]:
    """``cols`` (``record_search.c`` or a subquery's ``.c``) match ``node``."""
    if dialect == "postgresql":
        query = cast(bindparam(None, render_tsquery(node), type_=Text), TSQUERY)
        return cols.tokens.op("@@")(query)
    found = select(_fts.c.rowid).where(
        literal_column(FTS_TABLE).op("MATCH")(bindparam(None, render_fts5(node), type_=Text))
    )
    return cols.record_id.in_(found)
