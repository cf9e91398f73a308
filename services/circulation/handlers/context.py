"""What every handler is given: the library, its policy, the clock, the secret hasher and the
sign-in throttle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from libs.common.clock import Clock
from libs.common.policy import Decision, Policy
from services.circulation.domain.hashing import SecretHasher
from services.circulation.domain.throttle import SignInThrottle


@dataclass(frozen=True)
class Library:
    code: str
    policy: Policy
    clock: Clock
    hasher: SecretHasher
    #: service point code -> name, for the notices (where to pick up)
    service_points: dict[str, str]
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    #: the other members of its consortium (the libraries it borrows from and lends to)
    peers: frozenset[str] = frozenset()

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.policy.local_date(self.clock.now())

    def service_point_name(self, code: str) -> str:
        return self.service_points.get(code, code)


class Refused(Exception):
    """A rule refused and nothing is to be kept: the unit of work rolls back and the refusal
    is answered with the decision's rule IDs and every refusal's reason. A refusal whose
    writes must stay (the patron's notice of it) is returned as a refused
    :class:`~libs.common.outcome.Outcome` instead.

    ``status`` is 409 when the account's or item's state refuses (quota, suspension, renewal
    limits) and 422 when what was sent can never be accepted (no guarantor, a smart ID field
    that may not be read).
    """

    def __init__(self, decision: Decision, status: int = 409) -> None:
        super().__init__("; ".join(decision.messages))
        self.decision, self.status = decision, status


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Invalid(Exception):
    """A request that is well-formed but makes no sense (a payment larger than the debt)."""


def ensure(decision: Decision, status: int = 409) -> None:
    if not decision.allowed:
        raise Refused(decision, status)
