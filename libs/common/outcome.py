"""What a handler hands its boundary: what it decided, and what to answer when it was allowed.

A handler writes on the boundary's connection (its repositories and the outbox) and returns
an :class:`Outcome`; the boundary (a route's unit of work, a consumer) commits what was
written and then answers. A refused outcome is committed like any other: the state change and
the message that go with a refusal stay (a failed sign-in counted towards the wait, the
patron's notice of a refused renewal, an ILL Unfilled sent to the broker) and the caller is
answered with the refusal. A handler that must leave nothing behind raises instead, and the
boundary rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from libs.common.errors import Problem, refusal_problem
from libs.common.policy.decision import Decision

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """Allowed with ``value``, or refused by ``decision``.

    A refusal is answered with ``status`` (409: the account's or item's state refuses; 422:
    what was sent can never be accepted; 401/429 for a sign-in), as a problem of type
    ``problem_type``; ``retry_after`` (seconds) says when asking again may be decided
    otherwise.
    """

    decision: Decision | None = None
    value: T | None = None
    refused: bool = False
    status: int = 409
    problem_type: str = "rule-refused"
    retry_after: int = 0

    @classmethod
    def done(cls, value: T, decision: Decision | None = None) -> Outcome[T]:
        return cls(decision, value)

    @classmethod
    def refuse(
        cls,
        decision: Decision,
        status: int = 409,
        *,
        problem_type: str = "rule-refused",
        retry_after: int = 0,
    ) -> Outcome[T]:
        return cls(decision, None, True, status, problem_type, retry_after)

    @property
    def allowed(self) -> bool:
        return not self.refused

    def map(self, fn: Callable[[T], U]) -> Outcome[U]:
        """The same outcome with the allowed value turned into ``fn(value)`` (a view)."""
        if self.refused:
            return cast(Outcome[U], self)
        return Outcome(
            self.decision, fn(cast(T, self.value)), False, self.status, self.problem_type
        )

    def problem(self) -> Problem:
        """The problem document a refusal is answered with (names the refusing rules)."""
        # A refused decision is falsy: compared with None, not tested for truth.
        decision = Decision.of("request", []) if self.decision is None else self.decision
        problem = refusal_problem(decision, self.status)
        problem.type = self.problem_type
        if self.retry_after:
            problem.headers = {"Retry-After": str(self.retry_after)}
        return problem

    def answer(self) -> T:
        """The allowed value; a refusal raised as its problem. Called by the boundary once
        the outcome's writes are committed."""
        if self.refused:
            raise self.problem()
        return cast(T, self.value)


def answer(result: Any) -> Any:
    """What the boundary answers with once it has committed: an outcome's value (its refusal
    raised), anything else a handler returned as it is."""
    return result.answer() if isinstance(result, Outcome) else result
