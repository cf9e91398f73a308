"""docs/ill-states.md is drawn from the transition tables the services run on (ILL.md: the
state machines are data the docs are drawn from), and the committed page is the current one."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from deploy.ill_states import DEFAULT, SIDES, render
from libs.common.ill.diagrams import mermaid
from libs.common.states import StateMachine


def test_the_committed_page_is_what_the_tables_draw_now():
    assert DEFAULT.read_text(encoding="utf-8") == render(), (
        "docs/ill-states.md is stale: run `make docs` (python -m deploy.ill_states)"
    )


@pytest.mark.parametrize("side", SIDES, ids=lambda s: s.machine.name)
def test_every_step_from_every_source_is_an_arrow_and_nothing_else(side):
    machine = side.machine
    arrows = set()
    for line in mermaid(machine).splitlines():
        found = re.fullmatch(r"\s*(\w+) --> (\w+): (.+)", line)
        if found:
            arrows |= {(found[1], found[2], step) for step in found[3].split(" / ")}
    expected = {
        (source.value, machine.target(name).value, name)
        for name in machine.steps
        for source in machine.sources(name)
    }
    assert arrows == expected


def test_a_machine_starts_in_its_first_state_and_ends_in_its_terminal_ones():
    class Door(StrEnum):
        SHUT = "Shut"
        OPEN = "Open"
        GONE = "Gone"

    door = StateMachine.of(
        "door", Door, {"open": ([Door.SHUT], Door.OPEN), "remove": ([Door.OPEN], Door.GONE)}
    )
    assert mermaid(door).splitlines() == [
        "stateDiagram-v2",
        "    [*] --> Shut",
        "    Shut --> Open: open",
        "    Open --> Gone: remove",
        "    Gone --> [*]",
    ]
