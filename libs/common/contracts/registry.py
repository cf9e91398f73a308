"""Which payload model a (type, version) pair means, and whether it is an event or a command.

An **event** is broadcast: it says what happened at its sender, anybody subscribed hears it,
and it travels on the events exchange keyed by its type. A **command** is addressed to one
service or library (its bus address is the routing key on the commands exchange). The kind is
declared once, on the contract, so the outbox picks the exchange from it and the AsyncAPI
document groups by it.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel

Kind = Literal["event", "command"]
_CONTRACTS: dict[tuple[str, int], type[BaseModel]] = {}
M = TypeVar("M", bound=type[BaseModel])


def contract(type_name: str, version: int, kind: Kind):
    """Register a payload model under its message type, schema version and kind."""
    if kind not in ("event", "command"):
        raise ValueError(f"contract {type_name}: kind must be 'event' or 'command', not {kind!r}")

    def register(model: M) -> M:
        key = (type_name, version)
        if key in _CONTRACTS:
            raise ValueError(f"contract {type_name} v{version} registered twice")
        _CONTRACTS[key] = model
        # Stamped on the class at run time, which mypy cannot see.
        model.__contract__ = key  # type: ignore[attr-defined]
        model.__contract_kind__ = kind  # type: ignore[attr-defined]
        return model

    return register


def contract_of(model: type[BaseModel] | BaseModel) -> tuple[str, int]:
    return model.__contract__  # type: ignore[union-attr]  # stamped by @contract


def kind_of(model: type[BaseModel] | BaseModel) -> Kind:
    return model.__contract_kind__  # type: ignore[union-attr]  # stamped by @contract


def type_of(model: type[BaseModel] | BaseModel) -> str:
    return contract_of(model)[0]


def model_for(type_name: str, version: int) -> type[BaseModel] | None:
    return _CONTRACTS.get((type_name, version))


def all_contracts() -> dict[tuple[str, int], type[BaseModel]]:
    return dict(_CONTRACTS)


def parse_payload(type_name: str, version: int, payload: dict[str, Any]) -> BaseModel:
    """Validate a payload against its contract; raises ``UnknownContract`` or a pydantic
    ``ValidationError`` that the consumer turns into a dead letter with the reason."""
    model = model_for(type_name, version)
    if model is None:
        raise UnknownContract(f"no contract for message type {type_name!r} version {version}")
    return model.model_validate(payload)


class UnknownContract(ValueError):
    pass
