"""What every broker handler and job is given: the federation (who is a member of which
consortium), the clock, the catalogue client, and each consortium's lender answer time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

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
    #: consortium -> the timezone its days are counted in (its policy's)
    timezones: dict[str, str] = field(default_factory=dict)

    @cached_property
    def members(self) -> dict[str, str]:
        """library -> its consortium, by the federation (not by the catalogue's mirror). Made
        once: every routing step asks, and a federation has hundreds of members."""
        return {lib.code: lib.consortium for lib in self.fed.libraries}

    def consortium_of(self, library: str) -> str | None:
        return self.members.get(library)

    def local_date(self, consortium: str, at: datetime) -> date:
        """The consortium's day at ``at`` (UTC when its policy is unknown)."""
        tz = self.timezones.get(consortium)
        return at.astimezone(ZoneInfo(tz)).date() if tz else at.date()


def broker_context(fed: Federation, clock: Clock, catalogue: CatalogueClient) -> Broker:
    hours, zones = {}, {}
    for name, consortium in fed.consortia.items():
        policy = load_policy(consortium.policy)
        zones[name] = policy.timezone
        answer_hours = policy.ill.lender_answer_hours
        if answer_hours is not None:
            hours[name] = answer_hours
    return Broker(fed=fed, clock=clock, catalogue=catalogue, answer_hours=hours, timezones=zones)
