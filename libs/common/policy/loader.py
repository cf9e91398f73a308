"""Read a policy file (TOML) into a validated :class:`~libs.common.policy.models.Policy`.

Policies live in ``deploy/policies/<name>.toml`` at the repository root; the root is found from
this file's own location so the loader works from any working directory. An explicit path
or directory may be given instead (tests, a deployment that mounts its policies elsewhere).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from libs.common.policy.models import Policy

REPO_ROOT = Path(__file__).resolve().parents[3]
POLICY_DIR = REPO_ROOT / "deploy" / "policies"
_NAME = re.compile(r"^[a-z0-9_-]+$")


class PolicyFileError(ValueError):
    """A policy file is missing, is not TOML, or does not describe a valid policy.

    The message names the file and, for a validation error, every field that is wrong.
    """


def policy_path(name: str, directory: Path | str | None = None) -> Path:
    """Where the policy called ``name`` is read from."""
    if not _NAME.match(name):
        # A name is a file stem, never a path: nothing outside the policy folder is read.
        raise PolicyFileError(
            f"invalid policy name {name!r}: use lower-case letters, digits, - or _"
        )
    return Path(directory or POLICY_DIR) / f"{name}.toml"


def available_policies(directory: Path | str | None = None) -> list[str]:
    """Names of the policy files present in the policy folder."""
    folder = Path(directory or POLICY_DIR)
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def load_policy(
    name: str | None = None, *, path: Path | str | None = None, directory: Path | str | None = None
) -> Policy:
    """Load and validate a policy by name (``"hkpl"``, ``"hkall"``, ``"mala"``) or by ``path``.

    Raises :class:`PolicyFileError` with a readable message when the file cannot be used, and
    when the file's ``[policy].name`` differs from the name asked for.
    """
    if path is None:
        if name is None:
            raise PolicyFileError("load_policy needs a policy name or a path")
        file = policy_path(name, directory)
    else:
        file = Path(path)
    if not file.is_file():
        known = ", ".join(available_policies(file.parent)) or "none"
        raise PolicyFileError(f"policy file not found: {file} (policies there: {known})")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{file}: not valid TOML: {exc}") from exc
    policy = parse_policy(raw, source=str(file))
    if name is not None and policy.name != name:
        raise PolicyFileError(f"{file}: [policy].name is {policy.name!r}, expected {name!r}")
    return policy


def parse_policy(raw: dict, *, source: str = "<policy>") -> Policy:
    """Validate already-parsed policy data; errors name the source and each bad field."""
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyFileError(f"{source}: invalid policy: {problems}") from exc
