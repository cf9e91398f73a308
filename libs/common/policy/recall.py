"""Recalls by the library that owns the item (HKALL-10, HKALL-11, HKALL-14, MALA-06)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from libs.common.policy.dates import recall_due_date
from libs.common.policy.decision import Decision, Refusal
from libs.common.policy.facts import LoanFacts
from libs.common.policy.models import Policy

ACTION = "recall"


class RecallOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    loan_id: str
    decision: Decision
    due_date: date
    new_due_date: date | None = None


def recall_decision(
    policy: Policy,
    loan: LoanFacts,
    on: date,
    *,
    requested_by_library: str,
    owner_library: str,
) -> RecallOutcome:
    """May ``requested_by_library`` recall this loan on ``on``, and what is the new due date?

    HKALL-10: only the owning library's own users recall its books. HKALL-11: the borrower
    keeps a minimum use period of 15 days. HKALL-14: a renewed loan is the same loan and can
    still be recalled. MALA-06: the lender may recall at any time. Raises ``ValueError`` for
    a policy without recalls.
    """
    terms = policy.recalls
    if terms is None:
        raise ValueError(f"policy {policy.name!r} has no recalls")
    refusals: list[Refusal] = []
    if requested_by_library != owner_library:
        refusals.append(
            Refusal(
                rule=terms.owner_only_rule or terms.rule,
                code="not_owner",
                action=ACTION,
                reason="only the library that owns the item can recall it",
                item_id=loan.item_id,
            )
        )
    if loan.recalled:
        refusals.append(
            Refusal(
                rule=terms.rule,
                code="already_recalled",
                action=ACTION,
                reason="the item has already been recalled",
                item_id=loan.item_id,
            )
        )
    decision = Decision.of(ACTION, refusals)
    new_due = None
    if decision.allowed:
        new_due = recall_due_date(
            policy, checkout_date=loan.checkout_date, due_date=loan.due_date, recall_day=on
        )
    return RecallOutcome(
        loan_id=loan.loan_id, decision=decision, due_date=loan.due_date, new_due_date=new_due
    )
