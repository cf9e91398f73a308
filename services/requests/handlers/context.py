"""What every broker handler and job is given: the federation (who is a member of which
consortium), the clock, the catalogue client, and each consortium's lender answer time."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.common.catalogue_client import CatalogueClient
from libs.common.clock import Clock
from libs.common.federation import Federation
from libs.common.policy import load_policy


@dataclass
class Broker:
    fed: Federation
    clock: Clock
    catalogue: CatalogueClient
    #: consortium -> hours a lender has to answer (policy ``[ill] lender_answer_hours``); a
    #: consortium whose policy sets none has no timeout
    answer_hours: dict[str, int] = field(default_factory=dict)

    @property
    def members(self) -> dict[str, str]:
        """library -> its consortium, by the federation (not by the catalogue's mirror)."""
        return {lib.code: lib.consortium for lib in self.fed.libraries}

    def consortium_of(self, library: str) -> str | None:
        return self.members.get(library)


def broker_context(fed: Federation, clock: Clock, catalogue: CatalogueClient) -> Broker:
    hours = {}
    for name, consortium in fed.consortia.items():
        answer_hours = load_policy(consortium.policy).ill.lender_answer_hours
        if answer_hours is not None:
            hours[name] = answer_hours
    return Broker(fed=fed, clock=clock, catalogue=catalogue, answer_hours=hours)
