"""The libraries the catalogue has numbered, and numbering new ones.

Each library gets a stable number (its bit in the holders mask, see ``domain.indexing``) the
first time the catalogue meets it. The federation's libraries are numbered together, in the
order of the federation file the catalogue runs with, so every database of a deployment
numbers them alike. Which libraries those are is always given: the running catalogue passes
its own federation's (a default file would name another federation's libraries, or none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.federation import Federation
from services.catalog.adapters.tables import libraries
from services.catalog.domain.directory import Directory, Library

# PostgreSQL advisory lock key ("illfed catalog libraries") serialising bit assignment.
_LOCK_KEY = 0x1CA7_0001

#: library code -> its consortium (None: it belongs to none)
Members = Mapping[str, str | None]


def federation_libraries(fed: Federation) -> dict[str, str | None]:
    """Library code -> consortium, of ``fed``, in its file's order."""
    return {lib.code: lib.consortium for lib in fed.libraries}


async def load_directory(conn: AsyncConnection) -> Directory:
    rows = await conn.execute(select(libraries.c.code, libraries.c.bit, libraries.c.consortium))
    return Directory.of(Library(code, bit, consortium) for code, bit, consortium in rows)


async def register_libraries(conn: AsyncConnection, members: Members) -> Directory:
    """Number the libraries of ``members`` (code -> consortium) that are not numbered yet, and
    record a changed consortium. Returns the whole directory."""
    directory = await load_directory(conn)
    new = [code for code in members if code not in directory.libraries]
    moved = [
        code
        for code, consortium in members.items()
        if code in directory.libraries and directory.consortium_of(code) != consortium
    ]
    if not new and not moved:
        return directory
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        directory = await load_directory(conn)
        new = [code for code in members if code not in directory.libraries]
    free = iter(directory.next_bits())
    rows = [{"code": code, "bit": next(free), "consortium": members[code]} for code in new]
    if rows:
        await conn.execute(libraries.insert(), rows)
    for code in moved:
        await conn.execute(
            libraries.update().where(libraries.c.code == code).values(consortium=members[code])
        )
    return await load_directory(conn)


async def ensure_libraries(
    conn: AsyncConnection, codes: Iterable[str], members: Members
) -> Directory:
    """The directory, with every library of ``codes`` numbered. Libraries are taken from
    ``members`` (the running catalogue's federation); a code found there is numbered together
    with all of them, a code found nowhere gets no consortium."""
    directory = await load_directory(conn)
    missing = {c for c in codes if c not in directory.libraries}
    if not missing:
        return directory
    known = dict(members)
    for code in sorted(missing - known.keys()):
        known[code] = None
    return await register_libraries(conn, known)
