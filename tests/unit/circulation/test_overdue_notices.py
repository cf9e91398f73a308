"""The overdue run's pure part: which reminder each overdue loan owes on which library day
(HKALL-15 and HKPL's own schedule), and the suspension notices of HKALL-18 and HKALL-19."""

from __future__ import annotations

from datetime import date, timedelta

from services.circulation.domain.loan import Loan
from services.circulation.domain.overdue import notices_owed, suspension_notice_id
from tests.unit.circulation.builders import hk

DUE = date(2026, 3, 2)


def loan(loan_id: str = "L1", **fields: object) -> Loan:
    values: dict[str, object] = {
        "loan_id": loan_id,
        "patron_id": "P1",
        "item_id": f"I-{loan_id}",
        "owner_library": "hkpl",
        "checked_out_at": hk(2026, 2, 16),
        "checkout_date": date(2026, 2, 16),
        "due_date": DUE,
    }
    values.update(fields)
    return Loan(**values)  # type: ignore[arg-type]


def _run_daily(policy, loans, days: int, library: str = "hkpl") -> list:
    """Every day for ``days`` days after the due date, twice, remembering what was sent."""
    sent: dict[str, int] = {}
    noticed: set[str] = set()
    log = []
    for late in range(0, days + 1):
        for _ in range(2):
            owed = notices_owed(
                policy,
                loans,
                on=DUE + timedelta(days=late),
                library=library,
                reminders_sent=sent,
                noticed=noticed,
            )
            for n in owed:
                if n.kind == "overdue":
                    sent[n.loan.loan_id] = n.number
                else:
                    noticed.add(n.notice_id)
                log.append((late, n))
    return log


def test_hkpl_schedule_sends_five_reminders_on_days_1_7_21_35_49(hkpl):
    log = _run_daily(hkpl, [loan()], 70)
    assert [(late, n.number) for late, n in log] == [(1, 1), (7, 2), (21, 3), (35, 4), (49, 5)]
    assert [n.notice_id for _, n in log] == [f"overdue:hkpl:L1:{k}" for k in range(1, 6)]
    # The fine so far rides along (HKPL-10: $1.5 a day, adult library).
    assert log[1][1].fine.amount_minor == 7 * 150
    assert all(n.kind == "overdue" for _, n in log)  # HKPL has no loan-caused suspensions


def test_hkall_15_schedule_day_after_then_a_week_then_two_weeks(hkall):
    log = _run_daily(hkall, [loan(owner_library="eduhk")], 30, library="eduhk")
    reminders = [(late, n.number, n.rule) for late, n in log if n.kind == "overdue"]
    assert reminders == [(1, 1, "HKALL-15"), (7, 2, "HKALL-15"), (14, 3, "HKALL-15")]


def test_a_missed_day_sends_only_the_latest_reminder_HKALL_15(hkall):
    owed = notices_owed(
        hkall, [loan()], on=DUE + timedelta(days=8), library="eduhk", reminders_sent={}
    )
    assert [(n.kind, n.number, n.days_overdue) for n in owed] == [("overdue", 2, 8)]


def test_not_yet_overdue_returned_or_lost_loans_get_no_reminder(hkpl):
    on = DUE + timedelta(days=1)
    loans = [
        loan("due-today", due_date=on),
        loan("returned", returned_at=hk(2026, 3, 3)),
        loan("lost", loss="lost", loss_marked_on=DUE),
    ]
    assert notices_owed(hkpl, loans, on=on, library="hkpl", reminders_sent={}) == []


def test_recalled_item_overdue_suspends_once_HKALL_18(hkall):
    recalled = loan(recalled_on=date(2026, 2, 20), owner_library="eduhk")
    log = _run_daily(hkall, [recalled], 5, library="eduhk")
    suspensions = [(late, n.rule) for late, n in log if n.kind == "suspension"]
    assert suspensions == [(1, "HKALL-18")]
    [(_, notice)] = [(late, n) for late, n in log if n.kind == "suspension"]
    assert notice.notice_id == suspension_notice_id("eduhk", "L1", "HKALL-18")
    assert "recalled item is overdue" in notice.reason


def test_maximum_fine_reached_suspends_once_HKALL_19(hkall):
    log = _run_daily(hkall, [loan(owner_library="eduhk")], 20, library="eduhk")
    suspensions = [(late, n.rule) for late, n in log if n.kind == "suspension"]
    # HKALL-16: $2 a day up to $30, reached on the 15th day late.
    assert suspensions == [(15, "HKALL-19")]


def test_long_ids_stay_within_the_notifier_limit():
    notice_id = suspension_notice_id("hkpl", "x" * 80, "HKALL-18")
    assert len(notice_id) <= 64 and notice_id.startswith("suspension:HKALL-18:")
