"""The policy engine: the rules of HKPL, HKALL and MALA as one pure engine fed by policy data.

Numbers (periods, quotas, fines, fees) are data in ``deploy/policies/<name>.toml``, loaded with
:func:`load_policy`; the structure (how a set renews, what a recall does) is this code. Every
function here is pure: it takes the policy, snapshots of the account and loans
(:class:`AccountFacts`, :class:`LoanFacts`, :class:`ItemFacts`) and a library day, and returns
a :class:`Decision` or an amount. Nothing is read or written.

Typical calls::

    policy = load_policy("hkpl")
    checkout_due_date(policy, today)                        # HKPL-01
    checkout_decision(policy, account, [item], today)       # HKPL-09, HKPL-03...
    plan_renewals(policy, account, ["loan-1"], today)       # HKPL-02..05 (also the dry run)
    loan_fine_at(policy, loan, returned_at)                 # HKPL-10, HKALL-16, MALA-08
"""

from libs.common.policy.assumed_lost import assumed_lost_on, is_assumed_lost
from libs.common.policy.charges import (
    Charge,
    ChargeError,
    ChargeKind,
    ChargeLine,
    card_replacement_fee,
    lost_or_damaged_charge,
    percent_of,
    reservation_fee,
    surcharge_refusal,
)
from libs.common.policy.checkout import (
    QuotaUsage,
    checkout_decision,
    eligibility_refusals,
    material_refusals,
    quota_refusals,
    quota_usage,
)
from libs.common.policy.dates import (
    add_months,
    checkout_due_date,
    days_overdue,
    days_overdue_at,
    is_overdue,
    loan_days,
    longest_due_date,
    pickup_deadline,
    recall_due_date,
    renewal_due_date,
)
from libs.common.policy.decision import Decision, Refusal
from libs.common.policy.facts import (
    AccountBlock,
    AccountFacts,
    ItemFacts,
    LoanFacts,
    UnknownLoan,
)
from libs.common.policy.fines import (
    FineAssessment,
    days_to_max_fine,
    fine_rate,
    loan_fine,
    loan_fine_at,
    max_fine_reached,
    overdue_fine,
)
from libs.common.policy.loader import (
    POLICY_DIR,
    PolicyFileError,
    available_policies,
    load_policy,
    parse_policy,
    policy_path,
)
from libs.common.policy.models import FineRate, FineTerms, LenderTerms, Policy
from libs.common.policy.recall import RecallOutcome, recall_decision
from libs.common.policy.renewal import (
    RenewalOutcome,
    RenewalPlan,
    item_refusals,
    plan_renewals,
    renewal_decision,
    renewal_dry_run,
)
from libs.common.policy.standing import (
    charges_decision,
    charges_refusals,
    outstanding_total_minor,
    standing_refusals,
)
from libs.common.policy.vocabulary import MaterialType, RuleId, Section

__all__ = [
    "POLICY_DIR",
    "AccountBlock",
    "AccountFacts",
    "Charge",
    "ChargeError",
    "ChargeKind",
    "ChargeLine",
    "Decision",
    "FineAssessment",
    "FineRate",
    "FineTerms",
    "ItemFacts",
    "LenderTerms",
    "LoanFacts",
    "MaterialType",
    "Policy",
    "PolicyFileError",
    "QuotaUsage",
    "RecallOutcome",
    "Refusal",
    "RenewalOutcome",
    "RenewalPlan",
    "RuleId",
    "Section",
    "UnknownLoan",
    "add_months",
    "assumed_lost_on",
    "available_policies",
    "card_replacement_fee",
    "charges_decision",
    "charges_refusals",
    "checkout_decision",
    "checkout_due_date",
    "days_overdue",
    "days_overdue_at",
    "days_to_max_fine",
    "eligibility_refusals",
    "fine_rate",
    "is_assumed_lost",
    "is_overdue",
    "item_refusals",
    "load_policy",
    "loan_days",
    "loan_fine",
    "loan_fine_at",
    "longest_due_date",
    "lost_or_damaged_charge",
    "material_refusals",
    "max_fine_reached",
    "outstanding_total_minor",
    "overdue_fine",
    "parse_policy",
    "percent_of",
    "pickup_deadline",
    "plan_renewals",
    "policy_path",
    "quota_refusals",
    "quota_usage",
    "recall_decision",
    "recall_due_date",
    "renewal_decision",
    "renewal_dry_run",
    "renewal_due_date",
    "reservation_fee",
    "standing_refusals",
    "surcharge_refusal",
]
