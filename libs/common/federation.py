"""The federation described by deploy/federation.toml: consortia, libraries, service points,
ports and which policy each consortium uses. The embedded and the distributed launchers both
read it, so the two ways of running never disagree about who is in the federation."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "deploy" / "federation.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServicePoint(_Model):
    code: str
    name: str
    section: str | None = None


class Library(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$")
    name: str
    # The name in other languages, for notices and pages in the patron's language.
    names: dict[str, str] = Field(default_factory=dict)
    consortium: str
    port: int
    email: str
    service_points: tuple[ServicePoint, ...]
    # As a lender: answer ILL requests at once when a copy is AVAILABLE (the consortium
    # policy's ``[ill] auto_accept``), or leave every request to the library's staff. Unset:
    # as the policy says.
    ill_auto_accept: bool | None = None


class Consortium(_Model):
    name: str
    currency: str
    timezone: str
    policy: str


class ServiceSpec(_Model):
    port: int
    smtp_port: int | None = None


class Operator(_Model):
    client_id: str
    name: str


class FederationInfo(_Model):
    name: str
    host: str = "127.0.0.1"


class Federation(_Model):
    federation: FederationInfo
    services: dict[str, ServiceSpec]
    consortia: dict[str, Consortium]
    libraries: tuple[Library, ...]
    operators: tuple[Operator, ...] = ()

    def library(self, code: str) -> Library:
        for lib in self.libraries:
            if lib.code == code:
                return lib
        raise KeyError(f"no library {code!r} in the federation")

    def consortium_of(self, code: str) -> Consortium:
        return self.consortia[self.library(code).consortium]

    def members(self, consortium: str) -> list[Library]:
        return [lib for lib in self.libraries if lib.consortium == consortium]

    def url(self, port: int) -> str:
        return f"http://{self.federation.host}:{port}"


def load_federation(path: Path | str | None = None) -> Federation:
    """Read and validate a federation file (the repository's deploy/federation.toml by
    default)."""
    with open(path or DEFAULT_PATH, "rb") as fh:
        data = tomllib.load(fh)
    fed = Federation.model_validate(data)
    for lib in fed.libraries:
        if lib.consortium not in fed.consortia:
            raise ValueError(f"library {lib.code} names unknown consortium {lib.consortium}")
    return fed


@cache
def default_federation() -> Federation:
    return load_federation()
