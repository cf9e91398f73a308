"""The libraries the catalogue has numbered, and numbering new ones.

Each library gets a stable bit (its place in ``record_search.libs``) the first time the
catalogue meets it. The federation's libraries are numbered together, in the order of
``deploy/federation.toml``, so every database of a deployment numbers them alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.catalog.adapters.tables import libraries
from services.catalog.domain.directory import MAX_LIBRARIES, Directory, Library

# PostgreSQL advisory lock key ("illfed catalog libraries") serialising bit assignment.
_LOCK_KEY = 0x1CA7_0001


def federation_libraries() -> dict[str, str | None]:
    """Library code -> consortium, from the federation file."""
    from libs.common.federation import default_federation

    return {lib.code: lib.consortium for lib in default_federation().libraries}


async def load_directory(conn: AsyncConnection) -> Directory:
    rows = await conn.execute(select(libraries.c.code, libraries.c.bit, libraries.c.consortium))
    return Directory.of(Library(code, bit, consortium) for code, bit, consortium in rows)


async def register_libraries(conn: AsyncConnection, members: Mapping[str, str | None]) -> Directory:
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
    used = {lib.bit for lib in directory.libraries.values()}
    free = (b for b in range(MAX_LIBRARIES) if b not in used)
    rows = []
    for code in new:
        bit = next(free, None)
        if bit is None:
            raise RuntimeError(f"the catalogue cannot number more than {MAX_LIBRARIES} libraries")
        rows.append({"code": code, "bit": bit, "consortium": members[code]})
    if rows:
        await conn.execute(libraries.insert(), rows)
    for code in moved:
        await conn.execute(
            libraries.update().where(libraries.c.code == code).values(consortium=members[code])
        )
    return await load_directory(conn)


async def ensure_libraries(
    conn: AsyncConnection,
    codes: Iterable[str],
    members: Mapping[str, str | None] | None = None,
) -> Directory:
    """The directory, with every library of ``codes`` numbered. Libraries are taken from
    ``members`` (the federation file when None); a code found there is numbered together with
    all of them, a code found nowhere gets no consortium."""
    directory = await load_directory(conn)
    missing = {c for c in codes if c not in directory.libraries}
    if not missing:
        return directory
    known = dict(federation_libraries() if members is None else members)
    for code in sorted(missing - known.keys()):
        known[code] = None
    return await register_libraries(conn, known)
