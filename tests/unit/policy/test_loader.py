"""Policy files load into typed models; a bad file says clearly what is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from libs.common.policy import (
    POLICY_DIR,
    Policy,
    PolicyFileError,
    available_policies,
    load_policy,
)


def _copy_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (POLICY_DIR / f"{name}.toml").read_text(encoding="utf-8")
    assert old in text
    target = tmp_path / f"{name}.toml"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def test_every_consortium_of_the_federation_has_a_policy_file():
    federation = tomllib.loads((POLICY_DIR.parent / "federation.toml").read_text("utf-8"))
    named = {c["policy"] for c in federation["consortia"].values()}
    assert named <= set(available_policies())
    for name in named:
        policy = load_policy(name)
        assert isinstance(policy, Policy)
        assert policy.currency == next(
            c["currency"] for c in federation["consortia"].values() if c["policy"] == name
        )


def test_hkpl_numbers_come_from_the_rules(hkpl):
    assert hkpl.loans.default_days == 14  # HKPL-01
    assert hkpl.renewals.max_consecutive == 5  # HKPL-02
    assert hkpl.renewals.period_days == 14  # HKPL-02
    assert (hkpl.quotas.items, hkpl.quotas.periodical_back_issues) == (10, 20)  # HKPL-09
    assert hkpl.fines.normal.per_day_minor == 150  # HKPL-10
    assert hkpl.fines.by_section["children"].per_day_minor == 50  # HKPL-10
    assert hkpl.fees.reservation_minor == 330  # HKPL-11
    assert hkpl.currency == "HKD"


def test_hkall_and_mala_numbers_come_from_the_rules(hkall, mala):
    assert hkall.categories["academic_staff"].quota == 30  # HKALL-08
    assert hkall.categories["student"].home_quota == 50  # HKALL-09
    assert hkall.fines.recalled.cap_minor == 6000  # HKALL-16
    assert hkall.pickup.days == 5  # HKALL-06
    assert hkall.recalls.minimum_use_days == 15  # HKALL-11
    assert mala.quotas.items == 2  # MALA-02
    assert mala.renewals.max_renewals == 1  # MALA-05
    assert mala.fines.normal.cap_minor == 6000  # MALA-08
    assert mala.currency == "MOP"


def test_explicit_path_is_loaded(tmp_path):
    path = _copy_with(tmp_path, "hkpl", "default_days = 14", "default_days = 21")
    policy = load_policy(path=path)
    assert policy.loans.default_days == 21


def test_directory_can_be_given(tmp_path):
    _copy_with(tmp_path, "mala", "items = 2", "items = 3")
    assert load_policy("mala", directory=tmp_path).quotas.items == 3


def test_missing_file_names_the_file_and_the_known_policies(tmp_path):
    with pytest.raises(PolicyFileError, match=r"not found.*nowhere\.toml.*policies there"):
        load_policy("nowhere")


def test_a_name_is_never_a_path():
    with pytest.raises(PolicyFileError, match="invalid policy name"):
        load_policy("../federation")


def test_not_toml_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[policy\nname = 1", encoding="utf-8")
    with pytest.raises(PolicyFileError, match=r"broken\.toml: not valid TOML"):
        load_policy(path=bad)


def test_invalid_value_names_the_field(tmp_path):
    path = _copy_with(tmp_path, "hkpl", "per_day_minor = 150", "per_day_minor = -150")
    with pytest.raises(PolicyFileError, match=r"fines\.normal\.per_day_minor"):
        load_policy(path=path)


def test_unknown_field_is_refused_rather_than_ignored(tmp_path):
    path = _copy_with(tmp_path, "hkpl", "default_days = 14", "default_days = 14\ndefualt = 3")
    with pytest.raises(PolicyFileError, match=r"loans\.defualt"):
        load_policy(path=path)


def test_bad_rule_id_currency_and_timezone_are_refused(tmp_path):
    path = _copy_with(tmp_path, "hkpl", 'currency = "HKD"', 'currency = "XXX"')
    with pytest.raises(PolicyFileError, match="unknown currency"):
        load_policy(path=path)
    path = _copy_with(tmp_path, "mala", 'timezone = "Asia/Macau"', 'timezone = "Mars/Base"')
    with pytest.raises(PolicyFileError, match="unknown timezone"):
        load_policy(path=path)
    path = _copy_with(tmp_path, "hkpl", 'rule = "HKPL-10"', 'rule = "fines"')
    with pytest.raises(PolicyFileError, match=r"fines\.rule"):
        load_policy(path=path)


def test_surcharge_default_above_maximum_is_refused(tmp_path):
    path = _copy_with(
        tmp_path, "hkpl", "surcharge_default_percent = 20", "surcharge_default_percent = 25"
    )
    with pytest.raises(PolicyFileError, match="surcharge_default_percent"):
        load_policy(path=path)


def test_file_name_and_policy_name_must_agree(tmp_path):
    source = (POLICY_DIR / "hkpl.toml").read_text(encoding="utf-8")
    (tmp_path / "other.toml").write_text(source, encoding="utf-8")
    with pytest.raises(PolicyFileError, match="expected 'other'"):
        load_policy("other", directory=tmp_path)


def test_policy_is_immutable(hkpl):
    with pytest.raises(ValueError):
        hkpl.loans.default_days = 99  # type: ignore[misc]
