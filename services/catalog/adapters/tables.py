"""The union catalogue's tables (SQLAlchemy Core), for PostgreSQL and SQLite.

* ``records``: one bibliographic record per work.
* ``record_keys``: every match key of a record (each ISBN, the ISSN, the title/author/year
  key), so the same work from another library finds its record.
* ``holdings``: the mirror of every library's items, one row per (library, item_id), with the
  status the owner last reported and the ``version`` of the last ``ItemChanged`` applied.
* ``libraries``: the libraries seen, their consortium and their number (their bit in the
  holders mask of ``record_search``).
* ``record_search``: one narrow row per record for search: its tokens (see
  ``domain.indexing``), static rank, and the facet values. Searching touches only this table
  until the page of results is known.

Full-text machinery differs by database:

* PostgreSQL: ``tokens`` is a ``tsvector`` written lexeme by lexeme (no parser, no stemming)
  with a GIN index; queries are ``tsquery`` built from the same tokens.
* SQLite: ``tokens`` is the tokens as text, indexed by an FTS5 table (``record_search_fts``,
  ASCII tokenizer: every non-ASCII character is part of a token, so CJK bigrams stay whole)
  kept in step by triggers.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

from libs.common.db import UtcDateTime
from libs.common.messaging.tables import shared_tables

metadata = MetaData()
outbox, inbox, idempotency = shared_tables(metadata)

# SQLite only auto-numbers an INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")
_JSON = JSON().with_variant(JSONB(), "postgresql")

libraries = Table(
    "libraries",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("bit", SmallInteger, nullable=False, unique=True),
    Column("consortium", String(20)),
)

records = Table(
    "records",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("authors", _JSON, nullable=False),
    Column("subjects", _JSON, nullable=False),
    Column("isbns", _JSON, nullable=False),
    Column("issn", String(8)),
    Column("language", String(8)),
    Column("publisher", Text),
    Column("year", SmallInteger),
    Column("material_type", String(24), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, server_default=func.now()),
    Column("updated_at", UtcDateTime(), nullable=False, server_default=func.now()),
)

record_keys = Table(
    "record_keys",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("record_id", _ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Index("ix_record_keys_record", "record_id"),
)

holdings = Table(
    "holdings",
    metadata,
    Column("library", String(40), nullable=False),
    Column("item_id", String(64), nullable=False),
    # Empty while the owner has told nothing about the item's work (no title, no ISBN yet).
    Column("record_id", _ID, ForeignKey("records.id", ondelete="SET NULL")),
    Column("status", String(20), nullable=False),
    Column("material_type", String(24), nullable=False),
    Column("service_point", String(40)),
    Column("call_number", String(100)),
    Column("barcode", String(64)),
    # ItemChanged.version last applied (0: loaded in bulk, before any event).
    Column("version", Integer, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime(), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("library", "item_id", name="pk_holdings"),
    Index("ix_holdings_record", "record_id"),
)

record_search = Table(
    "record_search",
    metadata,
    Column(
        "record_id",
        _ID,
        ForeignKey("records.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("rank_key", BigInteger, nullable=False),
    Column("material_type", String(24), nullable=False),
    Column("language", String(8), nullable=False),
    # Which libraries hold the record: see ``domain.indexing`` (stored_mask).
    Column("libs", BigInteger, nullable=False),
    Column("libs_more", LargeBinary),
    Column("tokens", Text().with_variant(TSVECTOR(), "postgresql"), nullable=False),
    Index("ix_record_search_rank", "rank_key", "record_id"),
)

FTS_TABLE = "record_search_fts"

# The full-text parts that a table definition cannot express portably. They are created with
# the tables (``metadata.create_all``) and a migration creates them with
# ``for sql in fulltext_ddl(op.get_bind().dialect.name): op.execute(sql)``.
_FULLTEXT_DDL = {
    "postgresql": [
        "CREATE INDEX ix_record_search_tokens ON record_search USING gin (tokens)",
    ],
    "sqlite": [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(tokens, content='record_search', "
        "content_rowid='record_id', tokenize=\"ascii tokenchars '_'\")",
        f"CREATE TRIGGER record_search_ai AFTER INSERT ON record_search BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, tokens) VALUES (new.record_id, new.tokens); END",
        f"CREATE TRIGGER record_search_ad AFTER DELETE ON record_search BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, tokens) "
        f"VALUES ('delete', old.record_id, old.tokens); END",
        f"CREATE TRIGGER record_search_au AFTER UPDATE OF tokens ON record_search BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, tokens) "
        f"VALUES ('delete', old.record_id, old.tokens); "
        f"INSERT INTO {FTS_TABLE}(rowid, tokens) VALUES (new.record_id, new.tokens); END",
    ],
}
# Objects of the full-text machinery that are not in ``metadata`` (a migration environment
# leaves them alone): the FTS5 table and its shadow tables.
FULLTEXT_OBJECTS = frozenset(
    {"ix_record_search_tokens", FTS_TABLE}
    | {f"{FTS_TABLE}_{s}" for s in ("data", "idx", "docsize", "config", "content")}
)
metadata.info["hand_made_objects"] = FULLTEXT_OBJECTS


def fulltext_ddl(dialect: str) -> list[str]:
    """The statements that add full-text search to ``record_search`` on ``dialect``."""
    return list(_FULLTEXT_DDL.get(dialect, ()))


for _dialect, _statements in _FULLTEXT_DDL.items():
    for _sql in _statements:
        event.listen(record_search, "after_create", DDL(_sql).execute_if(dialect=_dialect))
event.listen(
    record_search,
    "before_drop",
    DDL(f"DROP TABLE IF EXISTS {FTS_TABLE}").execute_if(dialect="sqlite"),
)
