"""The federation's libraries as notice senders, read from deploy/federation.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from services.notifier.domain.library import LibraryContact, UnknownLibrary

DEFAULT_FEDERATION_FILE = Path(__file__).resolve().parents[3] / "deploy" / "federation.toml"
DEFAULT_TIMEZONE = "Asia/Hong_Kong"


def load_library_contacts(path: Path | None = None) -> dict[str, LibraryContact]:
    """Every library's code, name, notice address and time zone (from its consortium).

    A library entry may carry ``names = { "zh-Hant" = "…" }`` for its name in other
    languages; without it the notices show the English name.
    """
    with open(path or DEFAULT_FEDERATION_FILE, "rb") as handle:
        config = tomllib.load(handle)
    consortia = config.get("consortia", {})
    contacts: dict[str, LibraryContact] = {}
    for entry in config.get("libraries", []):
        consortium = consortia.get(entry.get("consortium"), {})
        contacts[entry["code"]] = LibraryContact(
            code=entry["code"],
            name=entry["name"],
            email=entry["email"],
            timezone=entry.get("timezone") or consortium.get("timezone") or DEFAULT_TIMEZONE,
            names=dict(entry.get("names", {})),
        )
    return contacts


def contact_for(contacts: Mapping[str, LibraryContact], code: str) -> LibraryContact:
    try:
        return contacts[code]
    except KeyError:
        raise UnknownLibrary(code) from None
