"""What the portal shows of an ILL request and a loan: a renewal waiting for the lending
library (HKALL-13) while the request keeps ``renewal_state == "pending"``, and money as
patrons read it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.circulation.web.views import loan_row, money, request_row

ROW = {
    "transaction_id": "t1",
    "patron_id": "p1",
    "record_id": 7,
    "title": "澳門文學史",
    "pickup_location": "mmw",
    "needed_by": None,
    "state": "CheckedOut",
    "quota_held": True,
    "lender": "hkbu",
    "due_date": None,
    "pickup_by": None,
    "item_id": "visiting-1",
    "lender_barcode": "HKBU00010",
    "loan_id": "l1",
    "created_at": datetime(2026, 3, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 3, 1, tzinfo=UTC),
}


def test_an_ill_renewal_waiting_for_the_lender_shows_pending():
    """HKALL-13"""
    pending = request_row({**ROW, "renewal_state": "pending"})
    assert pending["renewal_pending"] is True
    loan = loan_row({"loan_id": "l1", "title": "澳門文學史"}, pending)
    assert loan["ill"] and loan["renewal_pending"] and loan["lender"] == "hkbu"
    assert request_row({**ROW, "renewal_state": "approved"})["renewal_pending"] is False


def test_a_request_without_a_renewal_state_is_not_pending():
    # Before the renewal approval flow keeps one, a request row has no such field.
    assert request_row(ROW)["renewal_pending"] is False
    assert loan_row({"loan_id": "x"}, None) == {
        "loan_id": "x",
        "ill": False,
        "lender": None,
        "renewal_pending": False,
        "renewal_state": None,
        "renewal_reason": None,
        "renewal_rule": None,
        "recalled_on": None,
        "transaction_id": None,
    }


def test_money_in_minor_units_reads_as_patrons_read_it():
    assert money(1250, "HKD") == "HKD 12.50"
    assert money(5, "MOP") == "MOP 0.05"
    assert money(None, "HKD") == "HKD 0.00"
    assert money(-300, "HKD") == "HKD -3.00"
