"""What the daily overdue run owes the patrons of overdue loans: the next reminder of the
policy's schedule (HKALL-15; HKPL and MALA-13 set their own) and a notice of the suspension
a loan has caused (HKALL-18: a recalled item is overdue; HKALL-19: its fine reached the cap).

Pure: it is given the loans, the library day and what was already sent, and answers with
the notices to send. Each notice has a stable id, so the notifier sends it once however often
the run repeats; the caller records what it sent so the next run moves on in the schedule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from libs.common.money import Money
from libs.common.policy import AccountFacts, Policy, days_overdue, loan_fine
from libs.common.policy.overdue_notices import overdue_notice_due, overdue_notice_id
from libs.common.policy.standing import suspension_refusals
from services.circulation.domain.loan import Loan

# The notifier keeps a notice id in 64 characters (the NoticeRequested contract).
_MAX_NOTICE_ID = 64


@dataclass(frozen=True)
class LoanNotice:
    """One notice a loan owes its patron today."""

    loan: Loan
    kind: Literal["overdue", "suspension", "suspension_lifted"]
    notice_id: str
    number: int  # the reminder's number in the schedule; 1 for a suspension
    days_overdue: int
    rule: str | None = None
    reason: str | None = None
    fine: Money | None = None  # the fine run up so far, when there is one


def loan_ref(library: str, loan_id: str) -> str:
    """The loan as named in notice ids: the notifier's ids are shared by every library."""
    return f"{library}:{loan_id}"


def suspension_notice_id(library: str, loan_id: str, rule: str) -> str:
    """One suspension notice per loan and rule that suspended the account."""
    notice_id = f"suspension:{rule}:{loan_ref(library, loan_id)}"
    if len(notice_id) <= _MAX_NOTICE_ID:
        return notice_id
    digest = hashlib.sha256(loan_ref(library, loan_id).encode()).hexdigest()[:40]
    return f"suspension:{rule}:{digest}"[:_MAX_NOTICE_ID]


def _reminder(
    policy: Policy, loan: Loan, *, on: date, library: str, sent: int
) -> LoanNotice | None:
    # A loan recorded as lost, assumed lost or claimed returned is being settled as a loss
    # (HKPL-13, HKALL-20, MALA-09): "please return it" would no longer be true.
    if loan.loss is not None:
        return None
    due = overdue_notice_due(policy, due_date=loan.due_date, on=on, already_sent=sent)
    if due is None:
        return None
    fine = loan_fine(policy, loan.facts(), on).amount
    return LoanNotice(
        loan=loan,
        kind="overdue",
        notice_id=overdue_notice_id(loan_ref(library, loan.loan_id), due.number),
        number=due.number,
        days_overdue=due.days_overdue,
        rule=due.rule,
        fine=fine if fine.amount_minor > 0 else None,
    )


def _suspensions(
    policy: Policy, loan: Loan, *, on: date, library: str, noticed: Collection[str]
) -> list[LoanNotice]:
    # The same check that refuses the patron's next checkout or renewal (standing), so the
    # notice is sent exactly when the privileges are in fact suspended.
    account = AccountFacts(loans=(loan.facts(),))
    owed: list[LoanNotice] = []
    for refusal in suspension_refusals(policy, account, on, "borrowing"):
        notice_id = suspension_notice_id(library, loan.loan_id, refusal.rule)
        if notice_id in noticed or any(n.notice_id == notice_id for n in owed):
            continue
        owed.append(
            LoanNotice(
                loan=loan,
                kind="suspension",
                notice_id=notice_id,
                number=1,
                days_overdue=days_overdue(loan.due_date, on),
                rule=refusal.rule,
                reason=refusal.reason,
            )
        )
    return owed


def notices_owed(
    policy: Policy,
    loans: Sequence[Loan],
    *,
    on: date,
    library: str,
    reminders_sent: Mapping[str, int],
    noticed: Collection[str] = (),
) -> list[LoanNotice]:
    """The notices owed on the library day ``on``, in the order of ``loans``.

    ``reminders_sent`` maps a loan id to the number of the last overdue reminder it had;
    ``noticed`` holds the ids of the suspension notices already sent. Loans not yet overdue,
    or already returned, owe nothing.
    """
    owed: list[LoanNotice] = []
    for loan in loans:
        if not loan.active or days_overdue(loan.due_date, on) == 0:
            continue
        reminder = _reminder(
            policy, loan, on=on, library=library, sent=reminders_sent.get(loan.loan_id, 0)
        )
        if reminder is not None:
            owed.append(reminder)
        owed += _suspensions(policy, loan, on=on, library=library, noticed=noticed)
    return owed
