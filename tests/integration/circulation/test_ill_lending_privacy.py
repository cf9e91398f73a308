"""Privacy (DESIGN.md, ILL.md): after a whole inter-library loan, the lender's database, every
table of it, holds nothing that names the requesting patron: no name, HKID number, e-mail,
phone or address. It knows the patron by the pseudonym the home library gave it."""

from __future__ import annotations

import json

from sqlalchemy import MetaData

from services.circulation.domain.hkid import hkid_check_digit
from tests.integration.circulation.conftest import hkt
from tests.integration.circulation.test_ill_lending_desk import open_lender

# The requesting patron, as the home library (EdUHK) knows her. None of it is sent to the
# lender; the home library's staff wrote some of it in a note, which the lender must not keep.
NAME_EN, NAME_ZH = "WONG, Siu Ming", "黃小明"
HKID_DIGITS = "654321"
HKID = f"Y{HKID_DIGITS}({hkid_check_digit('Y', HKID_DIGITS)})"
EMAIL = "siuming.wong@s.eduhk.hk"
PHONE = "+852 6123 9876"
ADDRESS = "Flat 12B, 8 Po Lam Road North, Tseung Kwan O"
PERSONAL = [
    NAME_EN,
    "Siu Ming",
    NAME_ZH,
    HKID,
    HKID.replace("(", "").replace(")", ""),
    EMAIL,
    PHONE,
    "6123 9876",
    "61239876",
    ADDRESS,
    "Po Lam Road",
]


async def _everything(engine) -> str:
    """Every row of every table in the database, as one text."""
    async with engine.connect() as conn:
        found = MetaData()
        await conn.run_sync(found.reflect)
        dump = []
        for table in found.sorted_tables:
            rows = (await conn.execute(table.select())).mappings().all()
            dump.append(json.dumps([dict(r) for r in rows], default=str, ensure_ascii=False))
    return "\n".join(dump)


async def test_a_whole_lending_leaves_no_personal_data_of_the_patron_at_the_lender(
    database_url, clock
):
    async with open_lender(database_url, clock, "hku") as hku:
        book = await hku.add_item(service_point="main", title="香港歷史", isbn="9789620000001")
        request = hku.request(book, category="postgraduate", isbn="9789620000001")
        await hku.deliver(request)
        base = f"/api/v1/ill/lending/{request.transaction_id}"
        res = await hku.post(f"{base}/ship", {"barcode": book["barcode"]})
        assert res.status_code == 200, res.text
        # Sent out of order, so the notes are parked for a while too.
        await hku.deliver(
            hku.says(request, 3, "CheckedOut", at=hkt(2026, 1, 27), note=f"lent to {NAME_EN}")
        )
        await hku.deliver(
            hku.says(request, 2, "Received", note=f"{NAME_ZH} {PHONE}, {EMAIL}, HKID {HKID}")
        )
        await hku.deliver(hku.says(request, 4, "ShippedReturn", note=f"from {ADDRESS}"))
        done = await hku.post(f"{base}/check-in")
        assert done.json()["state"] == "LoanCompleted"

        everything = await _everything(hku.runtime.engine)
    # The dump is real: the lender does know the pseudonym, the category and the request.
    assert request.patron.ref in everything and "postgraduate" in everything
    leaked = [value for value in PERSONAL if value.lower() in everything.lower()]
    assert leaked == []


async def test_a_note_naming_the_patron_is_not_kept_at_the_lender_even_while_parked(
    database_url, clock
):
    async with open_lender(database_url, clock, "hku") as hku:
        book = await hku.add_item(service_point="main", title="香港歷史", isbn="9789620000002")
        request = hku.request(book, isbn="9789620000002")
        await hku.deliver(request)
        res = await hku.post(
            f"/api/v1/ill/lending/{request.transaction_id}/ship", {"barcode": book["barcode"]}
        )
        assert res.status_code == 200, res.text
        # The broker's second message is lost for now: the third waits, parked, for it.
        await hku.deliver(
            hku.says(request, 3, "CheckedOut", note=f"lent to {NAME_EN}, {PHONE}, HKID {HKID}")
        )
        parked = await _everything(hku.runtime.engine)
        assert "CheckedOut" in parked  # the parked message is in the dump...
        # ...without the note that named the patron
        assert [value for value in PERSONAL if value.lower() in parked.lower()] == []
        await hku.deliver(hku.says(request, 2, "Received", note=f"for {NAME_ZH} at {ADDRESS}"))
        lending = (await hku.get(f"/api/v1/ill/lending/{request.transaction_id}")).json()
        assert lending["checked_out_on"] is not None  # applied once the gap closed
        everything = await _everything(hku.runtime.engine)
    assert [value for value in PERSONAL if value.lower() in everything.lower()] == []


async def test_a_lost_copy_charged_and_paid_leaves_no_personal_data_at_the_lender(
    database_url, clock
):
    """After the checkout (HKALL-20, MALA-11): the requester's Lost, ClaimedReturned and
    ChargePaid, each with a note naming the patron, and the charge this library sends back
    by its own policy: its tables still know the patron by the pseudonym alone."""
    async with open_lender(database_url, clock, "hku") as hku:
        book = await hku.add_item(
            service_point="main", title="香港歷史", isbn="9789620000003", price_minor=42000
        )
        request = hku.request(book, isbn="9789620000003")
        await hku.deliver(request)
        base = f"/api/v1/ill/lending/{request.transaction_id}"
        assert (await hku.post(f"{base}/ship", {"barcode": book["barcode"]})).status_code == 200
        await hku.deliver(hku.says(request, 2, "CheckedOut", note=f"lent to {NAME_EN} ({EMAIL})"))
        await hku.deliver(
            hku.says(request, 3, "ClaimedReturned", note=f"{NAME_ZH} says so, call {PHONE}")
        )
        await hku.deliver(hku.says(request, 4, "Lost", note=f"HKID {HKID}, {ADDRESS}"))
        lending = (await hku.get(base)).json()
        assert lending["state"] == "CompletedWithoutReturn"
        assert (lending["charge_minor"], lending["charge_rule"]) == (42000, "HKALL-20")
        await hku.deliver(hku.says(request, 5, "ChargePaid", note=f"paid by {NAME_EN}"))
        assert (await hku.get(base)).json()["charge_paid_on"] is not None
        everything = await _everything(hku.runtime.engine)
    assert request.patron.ref in everything
    assert [value for value in PERSONAL if value.lower() in everything.lower()] == []
