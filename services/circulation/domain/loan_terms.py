"""The terms a lender lends on, stated once when it ships (ILL.md: "loan terms travel with
the loan"): the home library computes due dates, fines and reminders of the loan from them,
never from its own policy.

Every number comes from the lender's policy and the patron's category; the rules they come
from are listed with them: the loan period (HKALL-08 by category, MALA-04), how far the loan
renews (HKALL-12 in days in all, MALA-05 in renewals) and that the lender decides each renewal
(HKALL-13, MALA-05), the fines and their caps (HKALL-16, MALA-08) and the waived cap of a
recovered item (HKALL-17), the minimum use period a recall leaves (HKALL-11, MALA-06), and
what a lost item costs (HKALL-20, MALA-11).
"""

from __future__ import annotations

from datetime import date

from libs.common.contracts.ill import LoanTerms
from libs.common.policy import (
    FineRate,
    FineTerms,
    LenderTerms,
    MaterialType,
    Policy,
    Section,
    checkout_due_date,
    fine_rate,
    loan_days,
)


def loan_rule(policy: Policy, patron_category: str) -> str:
    """The rule the loan period comes from: the category's (HKALL-08) or the policy's
    (MALA-04)."""
    category = policy.category(patron_category)
    if category is not None and category.loan_days is not None and category.rule:
        return category.rule
    return policy.loans.rule


def loan_terms(
    policy: Policy,
    *,
    patron_category: str,
    shipped_on: date,
    material_type: MaterialType = "book",
    section: Section = "adult",
) -> LoanTerms:
    """The terms of a loan shipped on the lender's day ``shipped_on``: due that many loan
    days later."""
    days = loan_days(policy, patron_category=patron_category, material_type=material_type)
    category = policy.category(patron_category)
    renewals = policy.renewals
    normal, fine_rule = fine_rate(policy, section=section)
    recalled = policy.fines.recalled
    recalls = policy.recalls
    max_total = category.max_total_loan_days if category is not None else None
    rules = [loan_rule(policy, patron_category)]
    if max_total is not None or renewals.max_renewals is not None:
        rules.append(renewals.rule)
    if renewals.needs_lender_approval and renewals.approval_rule:
        rules.append(renewals.approval_rule)
    if recalls is not None:
        rules.append(recalls.rule)
    rules.append(fine_rule)
    if recalled is not None:
        rules.append(policy.fines.recalled_rule or policy.fines.rule)
    if policy.fines.cap_waived_when_recovered and policy.fines.recovered_rule:
        rules.append(policy.fines.recovered_rule)
    rules.append(policy.lost_damaged.rule)
    return LoanTerms(
        due_date=checkout_due_date(
            policy, shipped_on, patron_category=patron_category, material_type=material_type
        ),
        loan_days=days,
        max_total_loan_days=max_total,
        renewals_left=renewals.max_renewals,
        renewal_needs_approval=renewals.needs_lender_approval,
        currency=policy.currency,
        fine_per_day_minor=normal.per_day_minor,
        fine_cap_minor=normal.cap_minor,
        recalled_fine_per_day_minor=recalled.per_day_minor if recalled else None,
        recalled_fine_cap_minor=recalled.cap_minor if recalled else None,
        cap_waived_when_recovered=policy.fines.cap_waived_when_recovered,
        recall_minimum_use_days=recalls.minimum_use_days if recalls is not None else None,
        lost_item_rule=policy.lost_damaged.rule,
        fine_rule=fine_rule,
        recalled_fine_rule=(policy.fines.recalled_rule or policy.fines.rule) if recalled else None,
        recovered_rule=policy.fines.recovered_rule
        if policy.fines.cap_waived_when_recovered
        else None,
        rules=list(dict.fromkeys(rules)),
    )


def lender_terms_of(terms: LoanTerms, *, fallback_rule: str) -> LenderTerms:
    """The fine terms the home library keeps on its patron's loan of the lender's item, from
    the terms the lender sent with Loaned (HKALL-16, HKALL-17, MALA-08): fines are run up at
    the lender's rates, to its caps, in its currency. ``fallback_rule`` names the fines of
    terms that name no rule of their own (the consortium's rules are shared)."""
    recalled = None
    if terms.recalled_fine_per_day_minor is not None:
        recalled = FineRate(
            per_day_minor=terms.recalled_fine_per_day_minor,
            cap_minor=terms.recalled_fine_cap_minor,
        )
    rule = terms.fine_rule or fallback_rule
    return LenderTerms(
        currency=terms.currency,
        fines=FineTerms(
            rule=rule,
            normal=FineRate(per_day_minor=terms.fine_per_day_minor, cap_minor=terms.fine_cap_minor),
            recalled=recalled,
            recalled_rule=terms.recalled_fine_rule,
            cap_waived_when_recovered=terms.cap_waived_when_recovered,
            recovered_rule=terms.recovered_rule,
        ),
    )
