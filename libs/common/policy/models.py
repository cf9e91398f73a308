"""Typed policy data: the numbers of the rules, as a consortium or a library configures them.

The numbers live in ``deploy/policies/<name>.toml``; this module only says which numbers exist
and what they mean. Every section names the rule ID its refusals cite, so the same engine code
answers "HKPL-03" for Hong Kong Public Libraries and "MALA-05" for a MALA lender.

Money is integer minor units (cents, avos) in the policy's currency; :meth:`Policy.money`
turns an amount into :class:`~libs.common.money.Money`.
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from libs.common.money import CURRENCIES, Money
from libs.common.policy.vocabulary import MaterialType, MinorAmount, RuleId, Section

PositiveDays = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Percent = Annotated[int, Field(ge=0, le=100)]


class _Data(BaseModel):
    # A typo in a policy file must fail loudly rather than silently leave a default in place.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyMeta(_Data):
    """Who the policy is for, its currency and the timezone its days are counted in."""

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    consortium: str = Field(min_length=1)
    currency: str
    timezone: str
    description: str = ""
    eligibility_rule: RuleId | None = Field(
        default=None,
        description="when set, only the patron categories listed in the policy may borrow",
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"unknown currency {value!r}; known: {', '.join(sorted(CURRENCIES))}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value


class PatronCategory(_Data):
    """Terms that differ by patron category (HKALL-08, HKALL-09, HKALL-12)."""

    label: str
    rule: RuleId | None = None
    loan_days: PositiveDays | None = None
    quota: Count | None = Field(default=None, description="items at a time under this policy")
    home_quota: Count | None = Field(
        default=None, description="home-library quota these loans count inside (HKALL-09)"
    )
    max_total_loan_days: PositiveDays | None = Field(
        default=None, description="longest a loan may run, renewals included (HKALL-12)"
    )


class LoanTerms(_Data):
    """Loan period (HKPL-01, HKALL-08, MALA-04)."""

    rule: RuleId
    default_days: PositiveDays
    by_material_type: dict[MaterialType, PositiveDays] = {}


class Loanable(_Data):
    """Which material types may be lent at all (HKALL-01, MALA-03)."""

    rule: RuleId
    material_types: tuple[MaterialType, ...] = Field(min_length=1)


QuotaScope = Literal["account", "consortium", "lender"]


class QuotaTerms(_Data):
    """How many items a patron may hold (HKPL-09, HKPL-18, HKALL-08, HKALL-09, MALA-02).

    ``scope`` says which loans count: ``account`` every loan of the account whatever card
    borrowed it (HKPL-18); ``consortium`` loans and pending requests through the consortium
    (HKALL-08); ``lender`` loans from the one lending library (MALA-02).

    With ``periodical_back_issues`` set, the limit is shared: a back issue takes
    ``items / periodical_back_issues`` of an item's place, so 10 items *or* 20 back issues
    (HKPL-09), or any mix of the two that fills the same room.
    """

    rule: RuleId
    scope: QuotaScope = "account"
    items: Count
    periodical_back_issues: Annotated[int, Field(ge=1)] | None = None
    count_accompanying: bool = False
    home_quota_rule: RuleId | None = None


HoldBlocks = Literal["when_no_other_copy", "always", "never"]


class RenewalTerms(_Data):
    """When and how far a loan renews (HKPL-02..05, HKALL-12, HKALL-13, MALA-05)."""

    rule: RuleId = Field(description="the rule a refused renewal cites")
    max_consecutive: Count | None = None
    max_renewals: Count | None = None
    period_days: PositiveDays | None = Field(
        default=None, description="days each renewal gives; unset: the loan period"
    )
    counted_from: Literal["renewal_day", "due_date"] = "renewal_day"
    period_rule: RuleId | None = Field(
        default=None,
        description="the rule that gives each renewal its period (HKPL-02); a renewal that "
        "would not move the due date is refused citing it (unset: ``rule``)",
    )
    overdue_allowed: bool = True
    hold_blocks: HoldBlocks = "when_no_other_copy"
    recall_blocks: bool = True
    sets_together: bool = True
    set_rule: RuleId | None = None
    needs_lender_approval: bool = False
    approval_rule: RuleId | None = None

    @model_validator(mode="after")
    def _set_rule_when_sets_together(self) -> RenewalTerms:
        if self.sets_together and self.set_rule is None:
            raise ValueError("set_rule is required when sets_together is true")
        return self


class FineRate(_Data):
    """A daily overdue rate and its optional cap per item."""

    per_day_minor: MinorAmount
    cap_minor: MinorAmount | None = None


class FineTerms(_Data):
    """Overdue fines per day or part thereof (HKPL-10, HKALL-16, HKALL-17, MALA-08)."""

    rule: RuleId
    normal: FineRate
    by_section: dict[Section, FineRate] = {}
    recalled: FineRate | None = None
    recalled_rule: RuleId | None = None
    cap_waived_when_recovered: bool = False
    recovered_rule: RuleId | None = None


class LenderTerms(_Data):
    """The fine terms an inter-library loan was lent on, as its lender stated them (ILL.md:
    loan terms travel with the loan): the home library fines that loan by these, in the
    lender's currency, never by its own policy (HKALL-16, HKALL-17, MALA-08)."""

    currency: str = Field(min_length=3, max_length=3)
    fines: FineTerms


class CardReplacementFee(_Data):
    """Replacement card fee by age (HKPL-12; MALA-12 charges everyone the same)."""

    rule: RuleId
    adult_minor: MinorAmount
    under_age_minor: MinorAmount
    adult_age: Annotated[int, Field(ge=0, le=150)] = 18


class FeeTerms(_Data):
    """Fees other than fines and lost-item charges (HKPL-11, HKPL-12, MALA-12)."""

    reservation_minor: MinorAmount | None = None
    reservation_rule: RuleId | None = None
    card_replacement: CardReplacementFee | None = None

    @model_validator(mode="after")
    def _reservation_rule_with_fee(self) -> FeeTerms:
        if self.reservation_minor is not None and self.reservation_rule is None:
            raise ValueError("reservation_rule is required when reservation_minor is set")
        return self


class LostDamagedTerms(_Data):
    """What a lost or damaged item costs (HKPL-13, HKALL-20, MALA-11)."""

    rule: RuleId
    surcharge_max_percent: Percent = 0
    surcharge_default_percent: Percent = 0
    admin_fee_minor: MinorAmount = 0
    accompanying_percent_of_main: Percent | None = None
    per_page_minor_without_price: MinorAmount | None = None

    @model_validator(mode="after")
    def _default_within_max(self) -> LostDamagedTerms:
        if self.surcharge_default_percent > self.surcharge_max_percent:
            raise ValueError("surcharge_default_percent is above surcharge_max_percent")
        return self


class AccountLimits(_Data):
    """Outstanding-charges ceiling and overdue time limit (HKPL-03, MALA-10).

    A charges ceiling of 1 minor unit means "any unpaid charge blocks"; an overdue time limit
    of 0 days means "any overdue item blocks" (MALA-10).
    """

    rule: RuleId
    charges_ceiling_minor: MinorAmount | None = None
    item_charge_ceiling_minor: MinorAmount | None = None
    overdue_time_limit_days: Count | None = None


class SuspensionTerms(_Data):
    """Events that suspend every borrowing privilege; each is on when its rule is named."""

    recalled_overdue: RuleId | None = Field(
        default=None, description="a recalled item is overdue (HKALL-18)"
    )
    max_fine_reached: RuleId | None = Field(
        default=None, description="an item's fine has reached its cap (HKALL-19)"
    )


class AssumedLostTerms(_Data):
    """When an overdue item is treated as lost (HKALL-19, MALA-09)."""

    rule: RuleId
    when_max_fine_reached: bool = False
    overdue_more_than_months: Annotated[int, Field(ge=1)] | None = None
    overdue_more_than_days: Annotated[int, Field(ge=1)] | None = None


class PickupTerms(_Data):
    """How long an item waits on the pickup shelf (HKALL-06, HKPL reservations)."""

    rule: RuleId | None = None
    days: PositiveDays


class RecallTerms(_Data):
    """Recalls by the owning library (HKALL-10, HKALL-11, HKALL-14, MALA-06)."""

    rule: RuleId
    minimum_use_days: Count = 0
    return_within_days: PositiveDays
    owner_only_rule: RuleId | None = Field(
        default=None, description="only the owning library's users may recall (HKALL-10)"
    )


class OverdueNoticeTerms(_Data):
    """When an overdue loan's patron is e-mailed again (HKALL-15; MALA-13 the home library
    chases its borrowers). The schedule is counted in days after the due date.

    ``days_after_due`` lists the first notices (``[1, 7, 14]``: the day after the due date,
    then a week and two weeks late); with ``repeat_every_days`` the notices go on at that
    interval after the last listed day, up to ``max_notices`` in all.
    """

    rule: RuleId | None = None
    days_after_due: tuple[PositiveDays, ...] = Field(min_length=1)
    repeat_every_days: PositiveDays | None = None
    max_notices: PositiveDays | None = None

    @model_validator(mode="after")
    def _increasing_and_bounded(self) -> OverdueNoticeTerms:
        days = self.days_after_due
        if any(later <= earlier for earlier, later in pairwise(days)):
            raise ValueError("days_after_due must be strictly increasing")
        if self.max_notices is not None and self.max_notices < len(days):
            raise ValueError("max_notices is smaller than the days listed in days_after_due")
        return self


class CredentialTerms(_Data):
    """Sign-in (HKPL-08) and how repeated failures are slowed down.

    After ``lockout_after_failures`` wrong secrets in a row with one identifier (card or HKID
    number, whether an account has it or not), or ``client_lockout_after_failures`` from one
    client, each further try waits ``lockout_seconds``, doubled with every further failure
    up to ``max_lockout_seconds``; the count is forgotten that long after the last failure.
    A wait always ends: whoever types somebody's card number cannot shut them out for good.
    """

    rule: RuleId | None = None
    lockout_after_failures: Annotated[int, Field(ge=1)] = 5
    client_lockout_after_failures: Annotated[int, Field(ge=1)] = 20
    lockout_seconds: Annotated[int, Field(ge=1, le=86_400)] = 60
    max_lockout_seconds: Annotated[int, Field(ge=1, le=86_400)] = 900

    @model_validator(mode="after")
    def _max_not_below_first(self) -> CredentialTerms:
        if self.max_lockout_seconds < self.lockout_seconds:
            raise ValueError("max_lockout_seconds is smaller than lockout_seconds")
        return self


class IllTerms(_Data):
    """How a consortium's libraries take part in inter-library loans (ILL.md). No rule text
    sets these numbers: they are the consortium's operating choices.

    ``lender_answer_hours``: a lender asked to supply that has not answered within it is sent
    a Cancel by the broker and the next candidate is asked (no timeout when unset).

    With ``auto_accept`` a lender answers a request at once: WillSupply when one of the
    library's own copies of the record is AVAILABLE in its own database (held for the
    requester), or Unfilled citing ``unavailable_rule`` (HKALL-02) or the material rule
    (HKALL-01, MALA-03). Without it every request waits for the library's staff.

    ``renewal_answer_hours``: a renewal asked of a lender and not answered within it is shown
    to the patron as late (still pending: a loan is never renewed without the lender's yes).
    """

    lender_answer_hours: Annotated[int, Field(ge=1, le=24 * 60)] | None = None
    renewal_answer_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 48
    auto_accept: bool = False
    unavailable_rule: RuleId | None = Field(
        default=None, description="cited when no copy is AVAILABLE (HKALL-02)"
    )


class Policy(_Data):
    """One policy file, validated. Code reads numbers from here, never from literals."""

    policy: PolicyMeta
    loans: LoanTerms
    categories: dict[str, PatronCategory] = {}
    loanable: Loanable | None = None
    quotas: QuotaTerms
    renewals: RenewalTerms
    fines: FineTerms
    fees: FeeTerms = FeeTerms()
    lost_damaged: LostDamagedTerms
    account_limits: AccountLimits | None = None
    suspensions: SuspensionTerms = SuspensionTerms()
    assumed_lost: AssumedLostTerms | None = None
    pickup: PickupTerms
    recalls: RecallTerms | None = None
    credentials: CredentialTerms = CredentialTerms()
    overdue_notices: OverdueNoticeTerms | None = None
    ill: IllTerms = IllTerms()

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def currency(self) -> str:
        return self.policy.currency

    @property
    def timezone(self) -> str:
        return self.policy.timezone

    def money(self, amount_minor: int) -> Money:
        """An amount of this policy's currency."""
        return Money(amount_minor=amount_minor, currency=self.policy.currency)

    def category(self, name: str | None) -> PatronCategory | None:
        """The terms of a patron category, or ``None`` when the policy has none for it."""
        if name is None:
            return None
        return self.categories.get(name)

    def local_date(self, at: datetime) -> date:
        """The calendar day an instant falls on where the library stands."""
        if at.tzinfo is None:
            raise ValueError("a timezone-aware datetime is needed to find the library's day")
        return at.astimezone(ZoneInfo(self.policy.timezone)).date()
