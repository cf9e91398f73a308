"""The largest numbers the databases store, so that a client's number is bounded where it
comes in (a 422) rather than refused by the database (a 500)."""

from __future__ import annotations

#: a BIGINT column: row ids, and the cursors that are row ids
BIGINT_MAX = 2**63 - 1
