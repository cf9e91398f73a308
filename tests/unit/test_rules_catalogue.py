"""The project's list of rules (docs/rules.md) and the code keep each other honest.

The list must hold each consortium's IDs without gaps or repeats, each with a regulation text
and a status. A rule marked ``enforced`` must be named by code that enforces it (Python in
services/ or libs/, or a rule value in deploy/policies/*.toml) and by a test. No code may
name a rule that the list does not know. ``planned`` rules may be named or not.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "rules.md"
THIS_FILE = Path(__file__).resolve()

CONSORTIA = ("HKALL", "MALA", "HKPL")
STATUSES = {"enforced", "planned"}
# The regulation texts each consortium's rules may come from.
TEXTS = {"HKALL": {"000"}, "MALA": {"003"}, "HKPL": {"001", "002", "004"}}
COLUMNS = ["ID", "rule", "regulation", "status", "note"]

WELL_FORMED = re.compile(r"^(HKALL|MALA|HKPL)-(\d{2})$")
TEXT_REF = re.compile(r"\(text (\d{3})\)")
_PREFIX = r"(?<![A-Za-z])(HKALL|MALA|HKPL)"
# How code names a rule: HKPL-03, and the short forms HKALL-01/02/03 and HKPL-02..05.
CODE_ID = re.compile(_PREFIX + r"-(\d{2})((?:/\d{2})*)(?:\.\.(\d{2}))?(?!\d)")


def parse_catalogue(text: str) -> list[dict[str, str]]:
    """The rows of every rule table, each with its section's consortium under ``section``."""
    rows: list[dict[str, str]] = []
    section = ""
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].split()[0]
            header = None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the line under the header
        row = dict(zip(header, cells, strict=False))
        row["section"] = section
        rows.append(row)
    return rows


def code_ids(text: str) -> Iterator[str]:
    """Every rule ID a text names, short forms spelled out."""
    for match in CODE_ID.finditer(text):
        prefix, first, more, last = match.groups()
        numbers = [int(first), *(int(n) for n in more.split("/") if n)]
        if last:
            numbers = list(range(int(first), int(last) + 1))
        for number in numbers:
            yield f"{prefix}-{number:02d}"


def names_in_tests(rule_id: str, text: str) -> bool:
    """A test names a rule as ``HKALL-20`` or, in a test's name, ``hkall_20``."""
    prefix, number = rule_id.split("-")
    return re.search(rf"(?<![A-Za-z]){prefix}[-_]{number}(?!\d)", text, re.IGNORECASE) is not None


def policy_values(data: object) -> Iterator[str]:
    """Every string value of a parsed policy file (its comments are not data)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from policy_values(value)
    elif isinstance(data, list):
        for value in data:
            yield from policy_values(value)
    elif isinstance(data, str):
        yield data


def read(paths: list[Path]) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.fixture(scope="module")
def rules() -> list[dict[str, str]]:
    rows = parse_catalogue(CATALOGUE.read_text(encoding="utf-8"))
    assert rows, "docs/rules.md has no rule tables"
    return rows


@pytest.fixture(scope="module")
def enforcing_code() -> str:
    return read(python_files("services", "libs"))


@pytest.fixture(scope="module")
def policy_rule_values() -> set[str]:
    values: set[str] = set()
    for path in sorted((ROOT / "deploy" / "policies").glob("*.toml")):
        values.update(policy_values(tomllib.loads(path.read_text(encoding="utf-8"))))
    return values


def by_status(rules: list[dict[str, str]], status: str) -> list[str]:
    return [row["ID"] for row in rules if row.get("status") == status]


def test_every_table_has_the_catalogue_columns(rules):
    bad = sorted({row["section"] for row in rules if list(row)[:-1] != COLUMNS})
    assert not bad, f"these sections' tables do not have the columns {COLUMNS}: {bad}"


def test_ids_are_well_formed_and_in_their_consortiums_table(rules):
    bad = [
        f"{row['ID']!r} (in the {row['section']} table)"
        for row in rules
        if not WELL_FORMED.match(row["ID"]) or row["ID"].split("-")[0] != row["section"]
    ]
    assert not bad, f"rule IDs not of the form CONSORTIUM-NN of their own table: {bad}"


def test_ids_are_unique(rules):
    repeated = sorted(rid for rid, n in Counter(row["ID"] for row in rules).items() if n > 1)
    assert not repeated, f"rule IDs listed more than once: {repeated}"


def test_each_consortium_numbers_its_rules_from_01_without_gaps(rules):
    problems = []
    for consortium in CONSORTIA:
        numbers = sorted(
            int(row["ID"].split("-")[1]) for row in rules if row["ID"].startswith(consortium + "-")
        )
        if not numbers:
            problems.append(f"{consortium}: no rules listed")
            continue
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
        if missing:
            problems.append(f"{consortium}: missing {[f'{consortium}-{n:02d}' for n in missing]}")
    assert not problems, "rule numbering has gaps: " + "; ".join(problems)


def test_every_rule_says_what_it_is_and_its_status(rules):
    no_words = [row["ID"] for row in rules if not row.get("rule")]
    bad_status = [
        f"{row['ID']} ({row.get('status')!r})" for row in rules if row.get("status") not in STATUSES
    ]
    assert not no_words, f"rules without their words: {no_words}"
    assert not bad_status, f"rules whose status is neither enforced nor planned: {bad_status}"


def test_every_rule_names_the_regulation_it_comes_from(rules):
    problems = []
    for row in rules:
        texts = set(TEXT_REF.findall(row.get("regulation", "")))
        allowed = TEXTS.get(row["section"], set())
        if not texts:
            problems.append(f"{row['ID']}: no regulation text named, as '(text 000)'")
        elif not texts <= allowed:
            problems.append(
                f"{row['ID']}: text {sorted(texts - allowed)} is not one of "
                f"{row['section']}'s {sorted(allowed)}"
            )
    assert not problems, "rules without a right regulation source: " + "; ".join(problems)


def test_every_enforced_rule_is_named_by_a_test(rules):
    tests = read([p for p in python_files("tests") if p.resolve() != THIS_FILE])
    untested = [rid for rid in by_status(rules, "enforced") if not names_in_tests(rid, tests)]
    assert not untested, (
        "rules marked enforced that no test under tests/ names (as HKALL-20, or in a test's "
        f"name as test_hkall_20_...): {untested}"
    )


def test_every_enforced_rule_is_named_by_the_code_that_enforces_it(
    rules, enforcing_code, policy_rule_values
):
    named_in_code = set(code_ids(enforcing_code)) | policy_rule_values
    missing = [rid for rid in by_status(rules, "enforced") if rid not in named_in_code]
    assert not missing, (
        "rules marked enforced that no code in services/ or libs/ names and no policy file in "
        f"deploy/policies/ gives as a rule value: {missing}"
    )


def test_the_code_names_no_rule_the_catalogue_does_not_list(rules):
    known = {row["ID"] for row in rules}
    files = python_files("services", "libs", "deploy")
    files += sorted((ROOT / "deploy").rglob("*.toml"))
    unknown = {}
    for path in files:
        for rid in code_ids(path.read_text(encoding="utf-8")):
            if rid not in known:
                unknown.setdefault(rid, set()).add(str(path.relative_to(ROOT)))
    assert not unknown, "rule IDs in the code that docs/rules.md does not list: " + "; ".join(
        f"{rid} (in {', '.join(sorted(paths))})" for rid, paths in sorted(unknown.items())
    )


def test_short_forms_of_rule_ids_are_read_in_full():
    assert list(code_ids("HKALL-01/02/03, MALA-03")) == [
        "HKALL-01",
        "HKALL-02",
        "HKALL-03",
        "MALA-03",
    ]
    assert list(code_ids("(HKPL-02..05, HKPL-21)")) == [
        "HKPL-02",
        "HKPL-03",
        "HKPL-04",
        "HKPL-05",
        "HKPL-21",
    ]
    assert names_in_tests("MALA-04", "def test_mala_04_loan_period_14_days():")
    assert not names_in_tests("MALA-04", "def test_mala_041():")
