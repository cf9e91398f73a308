"""One shape for every state machine of the federation: a table of named steps, each from one
or more states to one state, kept in a service's ``domain/`` as plain data.

The domain asks the table whether a step may be taken (``step``); the repository turns the
same table into a guarded update (``UPDATE … SET state = target WHERE state IN sources``), so
two workers racing on one row cannot both apply a step, and a step the table does not allow is
never written, whoever asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(ValueError):
    """A step the machine does not allow from the current state."""

    def __init__(self, machine: str, current: str, step: str) -> None:
        super().__init__(f"{machine}: {step!r} is not allowed from {current!r}")
        self.machine, self.current, self.step_name = machine, current, step


@dataclass(frozen=True)
class Step(Generic[S]):
    """A named step: from any of ``sources`` to ``target``."""

    name: str
    sources: frozenset[S]
    target: S


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    name: str
    states: type[S]
    steps: Mapping[str, Step[S]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, states: type[S], table: Mapping[str, tuple[Iterable[S], S]]):
        """Build from ``{step: (sources, target)}``."""
        steps = {
            step: Step(step, frozenset(sources), target)
            for step, (sources, target) in table.items()
        }
        return cls(name, states, steps)

    def _step(self, step: str) -> Step[S]:
        try:
            return self.steps[step]
        except KeyError:
            raise KeyError(f"{self.name} has no step {step!r}") from None

    def step(self, current: S | str, step: str) -> S:
        """The state ``step`` leads to from ``current``; refused if the table has no such move."""
        found = self._step(step)
        if self.states(current) not in found.sources:
            raise IllegalTransition(self.name, str(current), step)
        return found.target

    def sources(self, step: str) -> tuple[S, ...]:
        """The states ``step`` may be taken from, in the order the states are declared (for
        the ``WHERE state IN …`` of a guarded update)."""
        found = self._step(step)
        return tuple(s for s in self.states if s in found.sources)

    def target(self, step: str) -> S:
        return self._step(step).target

    def can_move(self, current: S | str, new: S | str) -> bool:
        """Whether any step leads from ``current`` to ``new``."""
        here, there = self.states(current), self.states(new)
        return any(here in s.sources and s.target == there for s in self.steps.values())

    def terminal(self) -> tuple[S, ...]:
        """States no step leaves."""
        left = {source for s in self.steps.values() for source in s.sources}
        return tuple(s for s in self.states if s not in left)
