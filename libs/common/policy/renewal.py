"""Renewals: may each selected loan be renewed today, and to which due date?

:func:`plan_renewals` is the one computation behind both a real renewal and the dry run
("what would happen if I renewed these today?"): the circulation service applies the plan it
returns, the dry run only shows it. Sets renew together (HKPL-05), so selecting one item of a
set brings the rest of the set into the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, computed_field

from libs.common.policy.dates import days_overdue, longest_due_date, renewal_due_date
from libs.common.policy.decision import Decision, Refusal
from libs.common.policy.facts import AccountFacts, LoanFacts
from libs.common.policy.fines import FineAssessment, loan_fine
from libs.common.policy.models import Policy
from libs.common.policy.standing import accrued_fine_minor, standing_refusals

ACTION = "renewal"


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"  # 8 February 2026: no day-month order to guess


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


class RenewalOutcome(BaseModel):
    """What renewing one loan does (or would do): the decision and the new due date."""

    model_config = ConfigDict(frozen=True)

    loan_id: str
    item_id: str
    set_id: str | None = None
    selected: bool = True
    decision: Decision
    due_date: date
    new_due_date: date | None = None
    overdue_fine: FineAssessment | None = None
    needs_lender_approval: bool = False

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy refuses a decorated property
    @property
    def renewable(self) -> bool:
        return self.decision.allowed


class RenewalPlan(BaseModel):
    """The outcome of every loan a renewal touches, in the order they were selected."""

    model_config = ConfigDict(frozen=True)

    renewal_day: date
    outcomes: tuple[RenewalOutcome, ...]

    @property
    def renewable(self) -> tuple[RenewalOutcome, ...]:
        return tuple(o for o in self.outcomes if o.decision.allowed)

    @property
    def refused(self) -> tuple[RenewalOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.decision.allowed)

    def outcome(self, loan_id: str) -> RenewalOutcome:
        for outcome in self.outcomes:
            if outcome.loan_id == loan_id:
                return outcome
        raise KeyError(loan_id)


def item_refusals(
    policy: Policy, account: AccountFacts, loan: LoanFacts, on: date
) -> list[Refusal]:
    """Refusals that concern this loan alone (not its account, not its set).

    HKPL-03: reserved by another reader and no other copy available; renewed 5 consecutive
    times; accompanying material whose main item has been returned; the item's outstanding
    charge has reached the ceiling. HKALL-12: a hold or a recall by a local user of the
    lender; 90 or 45 days in all. MALA-05: one renewal, asked for before the due date.
    """
    terms = policy.renewals
    refusals: list[Refusal] = []

    def refuse(code: str, reason: str, rule: str | None = None) -> None:
        refusals.append(
            Refusal(
                rule=rule or terms.rule,
                code=code,
                action=ACTION,
                reason=reason,
                item_id=loan.item_id,
            )
        )

    if loan.hold_by_other and (
        terms.hold_blocks == "always"
        or (terms.hold_blocks == "when_no_other_copy" and not loan.other_copy_available)
    ):
        if terms.hold_blocks == "always":
            refuse("reserved_by_other", "another reader has placed a hold on the item")
        else:
            refuse(
                "reserved_by_other",
                "another reader has reserved the item and no other copy is available",
            )
    if loan.recalled and terms.recall_blocks:
        refuse("recalled", "the item has been recalled by the library that owns it")
    if terms.max_consecutive is not None and loan.consecutive_renewals >= terms.max_consecutive:
        refuse(
            "consecutive_renewal_limit",
            f"the item has been renewed {loan.consecutive_renewals} consecutive times"
            if loan.consecutive_renewals != 1
            else "the item has already been renewed once",
        )
    if terms.max_renewals is not None and loan.renewals >= terms.max_renewals:
        refuse(
            "renewal_limit",
            f"the item has already been renewed {_times(loan.renewals)}, "
            f"the most allowed is {_times(terms.max_renewals)}"
            if terms.max_renewals
            else "the item cannot be renewed",
        )
    if loan.is_accompanying and loan.main_item_id not in {x.item_id for x in account.loans}:
        refuse(
            "main_item_returned",
            "the main item of its set has been returned, and accompanying material cannot "
            "be renewed on its own",
        )
    if not terms.overdue_allowed and on > loan.due_date:
        refuse("renewal_after_due_date", "a renewal must be asked for before the due date")
    longest = longest_due_date(
        policy, checkout_date=loan.checkout_date, patron_category=account.patron_category
    )
    if longest is not None and loan.due_date >= longest:
        category = policy.category(account.patron_category)
        total = category.max_total_loan_days if category else None
        refuse(
            "longest_loan_period",
            f"the loan has reached the longest period allowed, {total} days in all",
        )
    limits = policy.account_limits
    if limits is not None and limits.item_charge_ceiling_minor is not None:
        charge = loan.outstanding_charges_minor + accrued_fine_minor(policy, loan, on)
        if charge > 0 and charge >= limits.item_charge_ceiling_minor:
            refuse(
                "item_charge_ceiling",
                f"the outstanding charge on the item ({policy.money(charge)}) has reached the "
                f"limit of {policy.money(limits.item_charge_ceiling_minor)}",
                limits.rule,
            )
    return refusals


def renewal_decision(
    policy: Policy, account: AccountFacts, loan: LoanFacts, on: date
) -> RenewalOutcome:
    """Renewal of one loan on its own (its set not considered; see :func:`plan_renewals`).

    Overdue items renew like any other (HKPL-04) unless the policy says a renewal must come
    before the due date (MALA-05); the fine for the late days is reported in
    ``overdue_fine`` and still has to be charged. The hour of the day plays no part: online
    renewal is available 24 hours a day (HKPL-07).
    """
    refusals = [
        *standing_refusals(policy, account, on, ACTION),
        *item_refusals(policy, account, loan, on),
    ]
    refusals = _drop_item_ceiling_if_account_ceiling(policy, refusals)
    decision = Decision.of(ACTION, refusals)
    new_due = None
    fine = None
    if decision.allowed:
        new_due = renewal_due_date(
            policy,
            renewal_day=on,
            due_date=loan.due_date,
            checkout_date=loan.checkout_date,
            patron_category=account.patron_category,
            material_type=loan.material_type,
        )
        if new_due <= loan.due_date:
            # HKPL-02: a renewal gives its period from the day of renewal; one that gives
            # nothing (asked on the checkout day, or twice in a day) is no renewal, and must
            # not use up one of the consecutive renewals or get a reference number.
            refusal = Refusal(
                rule=policy.renewals.period_rule or policy.renewals.rule,
                code="renewal_would_not_extend",
                action=ACTION,
                reason=f"the item is already due on {_day(loan.due_date)}; renewing today "
                "would not extend it",
                item_id=loan.item_id,
            )
            decision, new_due = Decision.of(ACTION, [refusal]), None
        elif days_overdue(loan.due_date, on) > 0:
            fine = loan_fine(policy, loan, on)
    return RenewalOutcome(
        loan_id=loan.loan_id,
        item_id=loan.item_id,
        set_id=loan.set_id,
        decision=decision,
        due_date=loan.due_date,
        new_due_date=new_due,
        overdue_fine=fine,
        # HKALL-13, MALA-05: the lender approves the renewal of its own item lent through
        # the consortium; a library's own loans renew at home.
        needs_lender_approval=decision.allowed
        and loan.ill
        and policy.renewals.needs_lender_approval,
    )


def _drop_item_ceiling_if_account_ceiling(policy: Policy, refusals: list[Refusal]) -> list[Refusal]:
    # The account total includes the item's own charge; saying both adds nothing for the patron.
    limits = policy.account_limits
    if limits is None:
        return refusals
    if not any(r.code == "charges_ceiling" for r in refusals):
        return refusals
    return [r for r in refusals if r.code != "item_charge_ceiling"]


def _with_set(account: AccountFacts, loan_ids: Sequence[str]) -> list[tuple[LoanFacts, bool]]:
    """The selected loans, each followed by the other loans of its set (HKPL-05)."""
    chosen: list[tuple[LoanFacts, bool]] = []
    seen: set[str] = set()
    selected = set(loan_ids)
    for loan_id in dict.fromkeys(loan_ids):
        loan = account.loan(loan_id)
        group = [loan]
        if loan.set_id is not None:
            group += [x for x in account.loans if x.set_id == loan.set_id and x is not loan]
        for member in group:
            if member.loan_id not in seen:
                seen.add(member.loan_id)
                chosen.append((member, member.loan_id in selected))
    return chosen


def plan_renewals(
    policy: Policy, account: AccountFacts, loan_ids: Sequence[str], on: date
) -> RenewalPlan:
    """Per-loan decisions and new due dates for renewing ``loan_ids`` on ``on``.

    HKPL-05: items borrowed as a set renew together; if any item of the set cannot be
    renewed, none is, and each of the others says so. Raises
    :class:`~libs.common.policy.facts.UnknownLoan` for a loan id not on the account.
    """
    members = _with_set(account, loan_ids)
    outcomes = {
        loan.loan_id: renewal_decision(policy, account, loan, on).model_copy(
            update={"selected": selected}
        )
        for loan, selected in members
    }
    terms = policy.renewals
    if terms.sets_together and terms.set_rule is not None:
        blocked_sets = {
            o.set_id for o in outcomes.values() if o.set_id is not None and not o.decision.allowed
        }
        for loan_id, outcome in outcomes.items():
            if outcome.set_id in blocked_sets and outcome.decision.allowed:
                refusal = Refusal(
                    rule=terms.set_rule,
                    code="set_not_renewable",
                    action=ACTION,
                    reason="another item of the same set cannot be renewed, and the items of "
                    "a set are renewed together",
                    item_id=outcome.item_id,
                )
                outcomes[loan_id] = outcome.model_copy(
                    update={
                        "decision": Decision.of(ACTION, [refusal]),
                        "new_due_date": None,
                        "overdue_fine": None,
                        "needs_lender_approval": False,
                    }
                )
    return RenewalPlan(renewal_day=on, outcomes=tuple(outcomes[m.loan_id] for m, _ in members))


def renewal_dry_run(
    policy: Policy, account: AccountFacts, loan_ids: Sequence[str], on: date
) -> RenewalPlan:
    """The dry run: what would happen if these were renewed on ``on``.

    Exactly :func:`plan_renewals`, the computation the real renewal applies; nothing changes.
    """
    return plan_renewals(policy, account, loan_ids, on)
