"""Library names and contacts come from the federation file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.adapters.libraries import contact_for, load_library_contacts
from services.notifier.domain.library import UnknownLibrary


def test_the_federation_file_gives_each_library_its_name_contact_and_time_zone() -> None:
    contacts = load_library_contacts()
    eduhk = contacts["eduhk"]
    assert eduhk.name == "The Education University of Hong Kong Library"
    assert eduhk.email == "hkall@eduhk.example.hk"
    assert eduhk.timezone == "Asia/Hong_Kong"
    assert contacts["kwnc"].timezone == "Asia/Macau"
    assert eduhk.name_in("zh-Hant") == "香港教育大學圖書館"
    with pytest.raises(UnknownLibrary):
        contact_for(contacts, "atlantis")


def test_names_in_other_languages_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "federation.toml"
    path.write_text(
        """
[consortia.MALA]
timezone = "Asia/Macau"

[[libraries]]
code = "um"
name = "University of Macau Library"
consortium = "MALA"
email = "ill@um.example.edu.mo"
names = { "zh-Hant" = "澳門大學圖書館" }
""",
        encoding="utf-8",
    )
    um = load_library_contacts(path)["um"]
    assert um.name_in("zh-Hant") == "澳門大學圖書館"
    assert um.name_in("en") == "University of Macau Library"
    assert um.timezone == "Asia/Macau"
