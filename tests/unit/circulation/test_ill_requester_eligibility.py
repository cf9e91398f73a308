"""Whether a patron may ask for a title through the consortium, decided in the domain: each
refusal names its rule (HKALL-01/02/03/08/09, MALA-01/02/03/07/10)."""

from __future__ import annotations

from datetime import date

from services.circulation.domain.ill_borrowing import (
    CatalogueRecord,
    HomeCopy,
    OpenRequest,
    decide_request,
    isbn_keys,
    new_pseudonym,
)
from services.circulation.domain.loan import Loan
from services.circulation.domain.patrons import Suspension

from .builders import hk, patron

TODAY = date(2026, 12, 1)


def record(*holdings: tuple[str, str, str], material_type: str = "book", rid: int = 7):
    return CatalogueRecord.of(
        {
            "id": rid,
            "title": "香港歷史",
            "material_type": material_type,
            "isbns": ["9789622099449"],
            "holdings": [
                {
                    "library": lib,
                    "consortium": cons,
                    "status": status,
                    "item_id": f"{lib}-1",
                    "material_type": material_type,
                }
                for lib, cons, status in holdings
            ],
        }
    )


def decide(policy, rec, *, who=None, loans=(), requests=(), copies=(), consortium="HKALL"):
    home = "eduhk" if consortium == "HKALL" else "kwnc"
    return decide_request(
        policy,
        consortium=consortium,
        home=home,
        patron=who or patron(library=home, category="student"),
        loans=list(loans),
        ledger=None,
        requests=list(requests),
        record=rec,
        home_copies=list(copies),
        on=TODAY,
    )


def ill_loan(n: int, lender: str | None, **fields) -> Loan:
    values = dict(
        patron_id="P1",
        item_id=f"ill:{n}",
        owner_library=lender or "eduhk",
        ill=True,
        lender=lender,
        checked_out_at=hk(2026, 11, 20),
        checkout_date=date(2026, 11, 20),
        due_date=date(2026, 12, 5),
    )
    values.update(fields)
    return Loan(**values)  # type: ignore[arg-type]


def test_an_hkall_student_may_ask_when_another_member_has_it_available(hkall):
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE"), ("um", "MALA", "AVAILABLE")))
    assert d.decision.allowed and d.lenders == ("cityu",)  # MALA-07: members only


def test_HKALL_02_no_other_member_has_it_available(hkall):
    d = decide(hkall, record(("cityu", "HKALL", "ON_LOAN")))
    assert d.decision.rules == ["HKALL-02"]


def test_HKALL_03_the_home_library_has_a_copy_in_place(hkall):
    rec = record(("cityu", "HKALL", "AVAILABLE"))
    on_shelf = HomeCopy("e1", "AVAILABLE", "book", "mmw")
    d = decide(hkall, rec, copies=[on_shelf])
    assert d.decision.rules == ["HKALL-03"] and "mmw" in d.decision.messages[0]
    lent = HomeCopy("e1", "ON_LOAN", "book", "mmw")
    assert decide(hkall, rec, copies=[lent]).decision.allowed


def test_HKALL_01_only_books(hkall):
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE"), material_type="serial"))
    assert "HKALL-01" in d.decision.rules


def test_HKALL_08_a_category_not_eligible(hkall):
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE")), who=patron(category="alumni"))
    assert d.decision.rules == ["HKALL-08"]


def test_HKALL_08_requests_in_flight_count_in_the_quota(hkall):
    requests = [OpenRequest(f"t{i}", 100 + i, None, ("cityu",), True) for i in range(15)]
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE")), requests=requests)
    assert d.decision.rules == ["HKALL-08"]
    # A request that no longer holds quota (its loan counts instead) is not counted twice.
    released = [
        r if i else OpenRequest("t0", 100, "cityu", (), False) for i, r in enumerate(requests)
    ]
    assert decide(
        hkall, record(("cityu", "HKALL", "AVAILABLE")), requests=released
    ).decision.allowed


def test_HKALL_09_home_quota_counts_local_loans_and_requests(hkall):
    local = [ill_loan(i, None, ill=False, owner_library="eduhk") for i in range(49)]
    one_request = [OpenRequest("t1", 99, None, ("hku",), True)]
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE")), loans=local, requests=one_request)
    assert d.decision.rules == ["HKALL-09"]


def test_suspension_refuses(hkall):
    suspended = patron(
        category="student",
        suspensions=(
            Suspension(rule="HKALL-18", reason="a recalled item is overdue", since=TODAY),
        ),
    )
    d = decide(hkall, record(("cityu", "HKALL", "AVAILABLE")), who=suspended)
    assert d.decision.rules == ["HKALL-18"]


def test_MALA_02_two_at_a_time_per_lender_requests_in_flight_counted(mala):
    rec = record(("um", "MALA", "AVAILABLE"), rid=9)
    two = [OpenRequest("a", 1, "um", ("um",), True), OpenRequest("b", 2, None, ("um",), True)]
    d = decide(mala, rec, requests=two, consortium="MALA")
    assert d.decision.rules == ["MALA-02"]
    # Another candidate with room: accepted, and only that one is named.
    rec2 = record(("um", "MALA", "AVAILABLE"), ("usj", "MALA", "AVAILABLE"), rid=9)
    d2 = decide(mala, rec2, requests=two, consortium="MALA")
    assert d2.decision.allowed and d2.lenders == ("usj",)


def test_MALA_03_and_MALA_07_no_theses_and_members_only(mala):
    d = decide(mala, record(("um", "MALA", "AVAILABLE"), material_type="thesis"), consortium="MALA")
    assert "MALA-03" in d.decision.rules and "MALA-07" in d.decision.rules
    hk_only = record(("hku", "HKALL", "AVAILABLE"))
    assert decide(mala, hk_only, consortium="MALA").decision.rules == ["MALA-07"]


def test_MALA_10_an_overdue_item_refuses(mala):
    late = ill_loan(1, "um", due_date=date(2026, 11, 28))
    d = decide(mala, record(("usj", "MALA", "AVAILABLE")), loans=[late], consortium="MALA")
    assert d.decision.rules == ["MALA-10"]


def test_MALA_01_only_eligible_users(mala):
    d = decide(
        mala,
        record(("um", "MALA", "AVAILABLE")),
        who=patron(category="visitor"),
        consortium="MALA",
    )
    assert d.decision.rules == ["MALA-01"]


def test_isbn_forms_and_pseudonyms():
    assert isbn_keys(["978-962-209-944-9"]) == {"9789622099449", "9622099440"}
    assert "9789622099449" in isbn_keys(["962209944-0"])
    a, b = new_pseudonym(), new_pseudonym()
    assert a != b and len(a) >= 8
