"""The answer of every rule check: allowed, or refused with the rules that refused and why.

A refusal is written for the patron (``renewal refused: the item has been renewed 5
consecutive times (HKPL-03)``); the REST layer turns ``Decision.rules`` into the ``rules`` of
its problem document. A decision lists every rule that refused, not only the first.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, computed_field

from libs.common.policy.vocabulary import RuleId


class Refusal(BaseModel):
    """One rule that refused an action, with the reason in words a patron understands.

    ``code`` is a stable key for the kind of refusal (``consecutive_renewal_limit``,
    ``quota_exceeded``...) that clients and notice templates may translate; ``reason`` is the
    English wording.
    """

    model_config = ConfigDict(frozen=True)

    rule: RuleId
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    action: str
    reason: str
    item_id: str | None = None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def message(self) -> str:
        return f"{self.action} refused: {self.reason} ({self.rule})"


class Decision(BaseModel):
    """Allowed when no rule refused. Truthy when allowed; serializes to JSON with pydantic."""

    model_config = ConfigDict(frozen=True)

    action: str
    refusals: tuple[Refusal, ...] = ()

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def allowed(self) -> bool:
        return not self.refusals

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def rules(self) -> list[str]:
        """The IDs of the rules that refused, each once, in the order they refused."""
        return list(dict.fromkeys(r.rule for r in self.refusals))

    @property
    def messages(self) -> list[str]:
        return [r.message for r in self.refusals]

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def allow(cls, action: str) -> Decision:
        return cls(action=action)

    @classmethod
    def of(cls, action: str, refusals: Iterable[Refusal]) -> Decision:
        """A decision from whatever refusals were found (none: allowed)."""
        return cls(action=action, refusals=tuple(refusals))

    def refused_by(self, rule: str) -> bool:
        return rule in self.rules
