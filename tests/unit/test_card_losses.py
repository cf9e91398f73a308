"""MALA-12, a lost institutional card: at home the MOP 120 fee and a report for the lender
that names the patron by a pseudonym and the requests the lender holds; at the broker the
report is checked and the lender is sent a pseudonym derived for it, never the home's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.common.contracts import IllCardLost
from libs.common.policy import load_policy
from services.circulation.domain.card_losses import NotReportable, report_card_lost
from services.requests.domain.broker import Attempt, BrokerState, TransactionView
from services.requests.domain.card_losses import for_lender
from services.requests.domain.routing import pseudonym
from tests.unit.circulation.builders import patron

AT = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)
MALA = load_policy("mala")
MEMBERS = {"um": "MALA", "mpu": "MALA", "usj": "MALA", "hku": "HKALL"}


def _report(**overrides):
    args = {
        "home": "um",
        "lender": "mpu",
        "peers": {"mpu", "usj", "kwnc"},
        "borrowings": [
            {"transaction_id": "t-out", "lender": "mpu", "state": "CheckedOut"},
            {"transaction_id": "t-done", "lender": "mpu", "state": "Completed"},
            {"transaction_id": "t-usj", "lender": "usj", "state": "CheckedOut"},
        ],
        "report_id": "r-1",
        "patron_ref": "p-home",
        "at": AT,
        "on": date(2026, 12, 4),
    }
    args.update(overrides)
    return report_card_lost(patron(library="um", category="student"), MALA, **args)


def test_mala_12_the_home_library_posts_mop_120_and_tells_the_lender_of_its_open_requests():
    report = _report()
    assert report.fee.kind == "card_replacement" and report.fee.rule == "MALA-12"
    assert (report.fee.amount.amount_minor, report.fee.amount.currency) == (12_000, "MOP")
    assert "institutional card of mpu" in (report.fee.description or "")
    msg = report.message
    assert (msg.requester, msg.lender, msg.transactions, msg.rule) == (
        "um",
        "mpu",
        ["t-out"],
        "MALA-12",
    )
    assert msg.fee is not None and msg.fee.amount_minor == 12_000
    # nothing personal goes with it
    sent = msg.model_dump_json()
    assert "CHAN" not in sent and "P1" not in sent


def test_mala_12_only_a_fellow_member_issues_cards_and_only_in_mala():
    with pytest.raises(NotReportable, match="MALA-12"):
        _report(lender="hku")
    with pytest.raises(NotReportable, match="MALA-12"):
        _report(lender="um")
    with pytest.raises(NotReportable, match="MALA's"):
        report_card_lost(
            patron(),
            load_policy("hkpl"),
            home="hkpl",
            lender="mpu",
            peers=set(),
            borrowings=[],
            report_id="r",
            patron_ref="p",
            at=AT,
            on=date(2026, 12, 4),
        )


def _msg(**fields) -> IllCardLost:
    base = {
        "report_id": "r-1",
        "requester": "um",
        "lender": "mpu",
        "patron_ref": "p-home",
        "transactions": ["t-1"],
        "reported_at": AT,
    }
    return IllCardLost(**{**base, **fields})


def _view(requester="um", lender="mpu") -> TransactionView:
    return TransactionView(
        id="t-1",
        requester=requester,
        consortium="MALA",
        state=BrokerState.CheckedOut,
        lender=lender,
        tried=(Attempt(lender, "supplying", AT),),
    )


def test_mala_12_the_broker_sends_the_lender_its_own_pseudonym():
    out = for_lender(_msg(), "um", MEMBERS, {"t-1": _view()})
    assert isinstance(out, IllCardLost)
    assert out.patron_ref == pseudonym("p-home", "mpu") != "p-home"
    assert out.transactions == ["t-1"]


@pytest.mark.parametrize(
    ("msg", "sender", "views", "why"),
    [
        (_msg(), "usj", {"t-1": _view()}, "names home library"),
        (_msg(lender="hku"), "um", {"t-1": _view()}, "MALA-12"),
        (_msg(lender="um"), "um", {}, "MALA-12"),
        (_msg(), "um", {}, "not one of um's"),
        (_msg(), "um", {"t-1": _view(requester="usj")}, "not one of um's"),
        (_msg(), "um", {"t-1": _view(lender="usj")}, "never with mpu"),
    ],
)
def test_mala_12_the_broker_passes_on_only_a_home_librarys_report_to_a_fellow_member(
    msg, sender, views, why
):
    out = for_lender(msg, sender, MEMBERS, views)
    assert isinstance(out, str) and why in out
