"""A state machine drawn from its own transition table (ILL.md: "the state machines are data
that the dashboard and the docs are drawn from"): a Mermaid ``stateDiagram-v2`` with an arrow
for every step from each of its sources, and the same steps as a table.

Nothing here knows the ILL machines themselves: a caller that may import the services
(``python -m deploy.ill_states``) hands them in, so the drawing can never drift from the
tables the services run on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from libs.common.states import StateMachine


@dataclass(frozen=True)
class Side:
    """One party's machine as the page shows it."""

    title: str
    machine: StateMachine
    about: str = ""


def _edges(machine: StateMachine) -> list[tuple[StrEnum, StrEnum, list[str]]]:
    """(from, to, the steps between them), in the order the table declares its steps and
    the states their sources."""
    found: dict[tuple[StrEnum, StrEnum], list[str]] = {}
    for name in machine.steps:
        for source in machine.sources(name):
            found.setdefault((source, machine.target(name)), []).append(name)
    return [(a, b, steps) for (a, b), steps in found.items()]


def mermaid(machine: StateMachine) -> str:
    """The machine as a Mermaid state diagram: it starts in the first state its states
    declare, and every terminal state (no step leaves it) ends."""
    states: list[StrEnum] = [*machine.states.__members__.values()]
    lines = ["stateDiagram-v2", f"    [*] --> {states[0].value}"]
    reached = {states[0]}
    for source, target, steps in _edges(machine):
        lines.append(f"    {source.value} --> {target.value}: {' / '.join(steps)}")
        reached |= {source, target}
    for state in states:
        if state not in reached:  # a state no step touches is still one of the machine's
            lines.append(f"    {state.value}")
    lines += [f"    {state.value} --> [*]" for state in machine.terminal() if state in reached]
    return "\n".join(lines)


def steps_table(machine: StateMachine) -> str:
    rows = ["| step | from | to |", "|---|---|---|"]
    for name in machine.steps:
        sources = ", ".join(s.value for s in machine.sources(name))
        rows.append(f"| `{name}` | {sources} | {machine.target(name).value} |")
    return "\n".join(rows)


def page(title: str, intro: str, sides: Sequence[Side]) -> str:
    """A Markdown page with one diagram and one table of steps per side."""
    parts = [f"# {title}", "", intro.strip(), ""]
    for side in sides:
        parts += [f"## {side.title}", ""]
        if side.about:
            parts += [side.about.strip(), ""]
        parts += ["```mermaid", mermaid(side.machine), "```", "", steps_table(side.machine), ""]
    return "\n".join(parts)
