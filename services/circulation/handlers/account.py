"""The account as staff and the patron see it: standing, loans with due dates and fines so
far, reservations, charges and quota in use (one account, one quota: HKPL-18)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.policy import days_overdue, loan_fine, quota_usage
from services.circulation.adapters import (
    holds_repo,
    ill_borrowing_repo,
    items_repo,
    ledger_repo,
    loans_repo,
    patrons_repo,
)
from services.circulation.domain.account import account_facts
from services.circulation.domain.guarantee import Liability, guarantor_liability
from services.circulation.domain.loan import Loan
from services.circulation.handlers.context import Library
from services.circulation.handlers.ill_borrowing import renewal_status
from services.circulation.handlers.patrons import load_patron


def ill_view(lib: Library, ill: dict[str, Any] | None) -> dict[str, Any] | None:
    """An ILL loan's lender, recall and renewal asked of the lender (HKALL-13: "waiting for
    the lending library" until it answers)."""
    if ill is None:
        return None
    return {
        "transaction_id": ill["transaction_id"],
        "lender": ill["lender"],
        "recalled_on": ill.get("recalled_on"),
        "renewal": renewal_status(ill, lib.now(), lib.policy.ill.renewal_answer_hours),
    }


def loan_view(
    lib: Library, loan: Loan, row: Any | None, ill: dict[str, Any] | None = None
) -> dict[str, Any]:
    today = lib.today()
    fine = loan_fine(lib.policy, loan.facts(), today) if loan.active else None
    return {
        "loan_id": loan.loan_id,
        "item_id": loan.item_id,
        "barcode": row.barcode if row else None,
        "title": row.title if row else None,
        "set_id": loan.set_id,
        "checkout_date": loan.checkout_date,
        "due_date": loan.due_date,
        "days_overdue": days_overdue(loan.due_date, today) if loan.active else 0,
        "fine_so_far_minor": fine.amount.amount_minor if fine else 0,
        "renewals": loan.renewals,
        "consecutive_renewals": loan.consecutive_renewals,
        "borrowed_with": loan.borrowed_with,
        "returned_at": loan.returned_at,
        "returned_to": loan.returned_to,
        "loss": loan.loss,
        "recalled_on": loan.recalled_on,
        "fine_currency": fine.amount.currency if fine else None,
        "ill": ill_view(lib, ill),
    }


async def loans_view(conn: AsyncConnection, lib: Library, patron_id: str) -> list[dict]:
    await load_patron(conn, lib, patron_id)
    loans = await loans_repo.active_loans(conn, patron_id)
    rows = await items_repo.item_rows(conn, [loan.item_id for loan in loans])
    ill = {
        loan.loan_id: await ill_borrowing_repo.by_item(conn, loan.item_id)
        for loan in loans
        if loan.ill
    }
    return [loan_view(lib, loan, rows.get(loan.item_id), ill.get(loan.loan_id)) for loan in loans]


def hold_view(hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id,
        "title_id": hold.title_id,
        "status": hold.status,
        "pickup_location": hold.pickup_location,
        "placed_at": hold.placed_at,
        "item_id": hold.item_id,
        "pickup_by": hold.pickup_by,
    }


async def holds_view(conn: AsyncConnection, lib: Library, patron_id: str) -> list[dict]:
    await load_patron(conn, lib, patron_id)
    result = []
    for hold in await holds_repo.patron_holds(conn, patron_id, open_only=True):
        view = hold_view(hold)
        if hold.status == "waiting":
            queue = await holds_repo.queue(conn, hold.title_id)
            view["position"] = queue.position(patron_id)
        result.append(view)
    return result


def ledger_view(lib: Library, ledger) -> dict[str, Any]:
    left = ledger.remaining()
    return {
        "currency": ledger.currency,
        "outstanding_minor": ledger.outstanding_minor(),
        "entries": [
            {
                "entry_id": e.entry_id,
                "kind": e.kind,
                "amount_minor": e.amount.amount_minor,
                "currency": e.amount.currency,
                "at": e.at,
                "rule": e.rule,
                "item_id": e.item_id,
                "loan_id": e.loan_id,
                "description": e.description,
                "actor": e.actor,
                "reason": e.reason,
                "applies_to": e.applies_to,
                "paid_by": e.paid_by,
                "unpaid_minor": left.get(e.entry_id) if e.is_charge else None,
            }
            for e in ledger.entries
        ],
    }


def liability_view(liability: Liability) -> dict[str, Any]:
    return liability.model_dump(mode="json")


def liable_guarantor_view(patron, ledger) -> dict[str, Any] | None:
    """HKPL-16: who answers for this borrower's charges, and for how much of them."""
    liability = guarantor_liability(patron, ledger)
    if liability is None or patron.guarantor is None:
        return None
    g = patron.guarantor
    return {
        "rule": liability.rule,
        "name": g.name,
        "relationship": g.relationship,
        "patron_id": g.patron_id,
        "liable_minor": liability.outstanding_minor,
    }


async def liabilities(conn: AsyncConnection, lib: Library, guarantor_id: str) -> list[Liability]:
    """HKPL-16: what a guarantor is liable for, per borrower they guarantee (kept apart from
    the guarantor's own outstanding charges, so their own borrowing is not blocked by it)."""
    result = []
    for minor in await patrons_repo.guaranteed_by(conn, lib.code, guarantor_id):
        ledger = await ledger_repo.ledger(conn, minor.patron_id, lib.policy.currency)
        liability = guarantor_liability(minor, ledger)
        if liability is not None:
            result.append(liability)
    return result


async def statement_view(conn: AsyncConnection, lib: Library, patron_id: str) -> dict[str, Any]:
    """The charges statement: the account's own ledger; for a borrower with a guarantor,
    the liable guarantor; for a guarantor, the charges they are liable for as guarantor."""
    patron = await load_patron(conn, lib, patron_id)
    ledger = await ledger_repo.ledger(conn, patron_id, lib.policy.currency)
    owed = await liabilities(conn, lib, patron_id)
    return {
        **ledger_view(lib, ledger),
        "liable_guarantor": liable_guarantor_view(patron, ledger),
        "liable_as_guarantor_minor": sum(x.outstanding_minor for x in owed),
        "liable_as_guarantor": [liability_view(x) for x in owed],
    }


async def summary(conn: AsyncConnection, lib: Library, patron_id: str) -> dict[str, Any]:
    patron = await load_patron(conn, lib, patron_id)
    creds = await patrons_repo.get_credentials(conn, patron_id)
    loans = await loans_repo.active_loans(conn, patron_id)
    ledger = await ledger_repo.ledger(conn, patron_id, lib.policy.currency)
    requests = await ill_borrowing_repo.requests_holding_quota(conn, patron_id)
    usage = quota_usage(
        lib.policy,
        account_facts(patron=patron, loans=loans, ledger=ledger, requests_holding_quota=requests),
    )
    owed = await liabilities(conn, lib, patron_id)
    return {
        "patron": patron_view(patron),
        "cards": [
            {"card_number": c.card_number, "status": c.status, "issued_on": c.issued_on}
            for c in creds.cards
        ],
        "smart_id": {"status": creds.smart_id.status} if creds.smart_id else None,
        # HKPL-08: whether the HKID number signs in (the number itself is not shown).
        "hkid_on_record": creds.hkid_number is not None,
        # Whether sign-in with one of the account's numbers must wait now (HKPL-08 throttle).
        "sign_in_locked": lib.throttle.waiting(
            creds.sign_in_identifiers(), lib.policy.credentials, lib.now()
        ),
        "loans": await loans_view(conn, lib, patron_id),
        "holds": await holds_view(conn, lib, patron_id),
        "charges": {
            "currency": ledger.currency,
            "outstanding_minor": ledger.outstanding_minor(),
            # HKPL-16: owed as guarantor of other borrowers, not part of the total above.
            "liable_as_guarantor_minor": sum(x.outstanding_minor for x in owed),
        },
        "liable_guarantor": liable_guarantor_view(patron, ledger),
        "liable_as_guarantor": [liability_view(x) for x in owed],
        "quota": {
            "rule": usage.rule,
            "items": usage.items,
            "items_limit": usage.items_limit,
            "back_issues": usage.back_issues,
            "back_issues_limit": usage.back_issues_limit,
        },
    }


def patron_view(patron) -> dict[str, Any]:
    data = patron.model_dump(mode="json")
    data["blocks"] = [{"rule": b.rule, "reason": b.reason, "code": b.code} for b in patron.blocks()]
    return data
