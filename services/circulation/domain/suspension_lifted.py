"""When a loan's suspension of the patron's borrowing is lifted (HKALL-18, HKALL-19): the
condition that caused it is cleared (the recalled item came back; the item whose fine reached
the maximum was returned, or charged as lost). Each lifting is e-mailed once, as each
suspension was (:mod:`.overdue`).

Pure: given the suspensions noticed, the loans that caused them and the library day, it
answers with the notices owed. The notice id is stable, so the notifier sends it once however
often the run repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from libs.common.policy import AccountFacts, Policy
from libs.common.policy.standing import suspension_refusals
from services.circulation.domain.loan import Loan
from services.circulation.domain.overdue import LoanNotice, loan_ref

_MAX_NOTICE_ID = 64
#: what was cleared, in the words of the notice, by the code of the suspension's refusal
_CLEARED = {
    "HKALL-18": "the recalled item is no longer overdue on your account",
    "HKALL-19": "the item that reached the maximum fine is no longer on your account",
}


@dataclass(frozen=True)
class Noticed:
    """A suspension notice sent for a loan: its loan and the rule that suspended."""

    loan_id: str
    rule: str


def lifted_notice_id(library: str, loan_id: str, rule: str) -> str:
    notice_id = f"lifted:{rule}:{loan_ref(library, loan_id)}"
    if len(notice_id) <= _MAX_NOTICE_ID:
        return notice_id
    digest = hashlib.sha256(loan_ref(library, loan_id).encode()).hexdigest()[:40]
    return f"lifted:{rule}:{digest}"[:_MAX_NOTICE_ID]


def _suspending(policy: Policy, loan: Loan, on: date) -> set[str]:
    """The rules by which this loan still suspends its patron (the same check that refuses
    the next checkout, renewal or ILL request)."""
    if not loan.active:
        return set()
    account = AccountFacts(loans=(loan.facts(),))
    return {r.rule for r in suspension_refusals(policy, account, on, "borrowing")}


def liftings_owed(
    policy: Policy,
    noticed: Sequence[Noticed],
    loans: Mapping[str, Loan],
    *,
    on: date,
    library: str,
    patron_loans: Mapping[str, Sequence[Loan]],
    sent: Collection[str] = (),
) -> list[LoanNotice]:
    """A notice per suspension whose condition is cleared on the library day ``on`` and not
    yet told. ``patron_loans`` holds each patron's loans still out: when another of them
    still suspends the patron, the notice says so (the privileges are not back yet)."""
    owed: list[LoanNotice] = []
    for suspension in noticed:
        loan = loans.get(suspension.loan_id)
        if loan is None:
            continue
        notice_id = lifted_notice_id(library, loan.loan_id, suspension.rule)
        if notice_id in sent or suspension.rule in _suspending(policy, loan, on):
            continue
        others = [
            other
            for other in patron_loans.get(loan.patron_id, ())
            if other.loan_id != loan.loan_id and _suspending(policy, other, on)
        ]
        reason = _CLEARED.get(suspension.rule, "the condition that suspended it is cleared")
        if others:
            reason += "; another item on your account still suspends your borrowing"
        else:
            reason += "; your borrowing privileges are restored"
        owed.append(
            LoanNotice(
                loan=loan,
                kind="suspension_lifted",
                notice_id=notice_id,
                number=1,
                days_overdue=0,
                rule=suspension.rule,
                reason=reason,
            )
        )
    return owed
