"""Overdue fines: a daily rate per item, per day or part thereof, up to a cap.

HKPL-10: $1.5 a day from an adult library, $0.5 from a young adult or children's library.
HKALL-16: $2 a day up to $30; a recalled book $4 a day up to $60.
HKALL-17: no cap for an item that was lost, assumed lost or claimed returned and came back.
MALA-08: MOP 2 a day up to MOP 60.

An inter-library loan is fined by the terms its lender lent it on (``LoanFacts.lender_terms``,
in the lender's currency), never by the home library's policy (ILL.md). A loan claimed
returned runs no fine after the claim (``LoanFacts.fines_stop_on``).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from libs.common.money import Money
from libs.common.policy.dates import days_overdue, days_overdue_at
from libs.common.policy.facts import LoanFacts
from libs.common.policy.models import FineRate, FineTerms, LenderTerms, Policy
from libs.common.policy.vocabulary import RuleId, Section


class FineAssessment(BaseModel):
    """An overdue fine and how it was reached, for the ledger and for the patron to read."""

    model_config = ConfigDict(frozen=True)

    rule: RuleId
    days_overdue: int
    per_day: Money
    cap: Money | None
    amount: Money
    cap_reached: bool
    cap_waived: bool = False


def _terms(policy: Policy, lender_terms: LenderTerms | None) -> tuple[FineTerms, str]:
    if lender_terms is not None:
        return lender_terms.fines, lender_terms.currency
    return policy.fines, policy.currency


def fine_rate(
    policy: Policy,
    *,
    section: Section = "adult",
    recalled: bool = False,
    lender_terms: LenderTerms | None = None,
) -> tuple[FineRate, str]:
    """The rate that applies and the rule that sets it: the recalled rate for a recalled
    item when the terms have one (HKALL-16), else the section's (HKPL-10), else the normal.
    The terms are an ILL loan's lender's when given, else the policy's."""
    terms, _ = _terms(policy, lender_terms)
    if recalled and terms.recalled is not None:
        return terms.recalled, terms.recalled_rule or terms.rule
    return terms.by_section.get(section, terms.normal), terms.rule


def overdue_fine(
    policy: Policy,
    days_late: int,
    *,
    section: Section = "adult",
    recalled: bool = False,
    recovered_after_loss: bool = False,
    lender_terms: LenderTerms | None = None,
) -> FineAssessment:
    """The fine for an item ``days_late`` whole days late (a started day already counted
    whole by :func:`~libs.common.policy.dates.days_overdue_at`).

    The cap per item applies unless the item was lost, assumed lost or claimed returned and
    was later recovered, where the policy waives it (HKALL-17).
    """
    if days_late < 0:
        raise ValueError("days overdue cannot be negative")
    rate, rule = fine_rate(policy, section=section, recalled=recalled, lender_terms=lender_terms)
    terms, currency = _terms(policy, lender_terms)
    waived = recovered_after_loss and terms.cap_waived_when_recovered
    cap = None if waived else rate.cap_minor
    amount = rate.per_day_minor * days_late
    if cap is not None:
        amount = min(amount, cap)
    if waived and rate.cap_minor is not None and amount > rate.cap_minor:
        rule = terms.recovered_rule or rule

    def money(minor: int) -> Money:
        return Money(amount_minor=minor, currency=currency)

    return FineAssessment(
        rule=rule,
        days_overdue=days_late,
        per_day=money(rate.per_day_minor),
        cap=None if cap is None else money(cap),
        amount=money(amount),
        cap_reached=cap is not None and days_late > 0 and amount >= cap,
        cap_waived=waived,
    )


def _loan_fine(policy: Policy, loan: LoanFacts, days_late: int) -> FineAssessment:
    return overdue_fine(
        policy,
        days_late,
        section=loan.section,
        recalled=loan.recalled,
        recovered_after_loss=loan.recovered_after_loss,
        lender_terms=loan.lender_terms,
    )


def loan_fine(policy: Policy, loan: LoanFacts, on: date) -> FineAssessment:
    """The fine a loan has run up by the library day ``on`` (zero if not overdue; for a loan
    claimed returned, no later than the claim)."""
    if loan.fines_stop_on is not None and on > loan.fines_stop_on:
        on = loan.fines_stop_on
    return _loan_fine(policy, loan, days_overdue(loan.due_date, on))


def loan_fine_at(policy: Policy, loan: LoanFacts, at: datetime) -> FineAssessment:
    """The fine at an instant, e.g. the moment of return: a started day counts whole."""
    if loan.fines_stop_on is not None and policy.local_date(at) > loan.fines_stop_on:
        return loan_fine(policy, loan, loan.fines_stop_on)
    return _loan_fine(policy, loan, days_overdue_at(policy, loan.due_date, at))


def days_to_max_fine(
    policy: Policy,
    *,
    section: Section = "adult",
    recalled: bool = False,
    recovered_after_loss: bool = False,
    lender_terms: LenderTerms | None = None,
) -> int | None:
    """Days late at which the fine reaches its cap (HKALL-16: 15), or ``None`` if uncapped."""
    rate, _ = fine_rate(policy, section=section, recalled=recalled, lender_terms=lender_terms)
    if rate.cap_minor is None or rate.per_day_minor == 0:
        return None
    terms, _ = _terms(policy, lender_terms)
    if recovered_after_loss and terms.cap_waived_when_recovered:
        return None
    return max(1, -(-rate.cap_minor // rate.per_day_minor))


def max_fine_reached(policy: Policy, loan: LoanFacts, on: date) -> bool:
    """Whether the loan's fine has reached its cap by ``on`` (HKALL-19 suspends then)."""
    return loan_fine(policy, loan, on).cap_reached
