"""Patrons and their credentials: rows to domain objects and back.

A patron's nested parts (address, guarantor, suspensions) are stored as JSON and validated
by the domain models on the way out; sign-in secrets are only ever argon2 hashes (HKPL-08).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.clock import Clock
from services.circulation.adapters.store import aware, save
from services.circulation.adapters.tables import credentials, library_cards, patrons
from services.circulation.domain.credentials import CredentialSet, LibraryCard, SmartIdCard
from services.circulation.domain.patrons import Patron


def _patron(row: Any, library: str) -> Patron:
    return Patron(
        patron_id=row.id,
        library=library,
        category=row.category,
        name_en=row.name_en,
        name_zh=row.name_zh,
        date_of_birth=row.date_of_birth,
        language=row.language,
        address=row.address,
        email=row.email,
        phone=row.phone,
        guarantor=row.guarantor,
        registered_on=row.registered_on,
        cancelled_on=row.cancelled_on,
        suspensions=tuple(row.suspensions or ()),
    )


async def get_patron(
    conn: AsyncConnection, library: str, patron_id: str, *, for_update: bool = False
) -> Patron | None:
    """The patron; ``for_update`` locks the row (PostgreSQL) so that two decisions about one
    account (two checkouts against one quota, HKPL-18) are taken one after the other."""
    row = await hot_sql.row_by(conn, patrons, "id", patron_id, for_update=for_update)
    return _patron(row, library) if row else None


async def save_patron(conn: AsyncConnection, patron: Patron, clock: Clock) -> None:
    data = patron.model_dump(mode="json")
    now = clock.now()
    values = {
        "category": patron.category,
        "name_en": patron.name_en,
        "name_zh": patron.name_zh,
        "date_of_birth": patron.date_of_birth,
        "language": patron.language,
        "address": data["address"],
        "email": patron.email,
        "phone": patron.phone,
        "guarantor": data["guarantor"],
        "guarantor_patron_id": patron.guarantor.patron_id if patron.guarantor else None,
        "registered_on": patron.registered_on,
        "cancelled_on": patron.cancelled_on,
        "suspensions": data["suspensions"],
        "updated_at": now,
    }
    exists = (
        await conn.execute(select(patrons.c.id).where(patrons.c.id == patron.patron_id))
    ).first()
    if exists is None:
        values["created_at"] = now
    await save(conn, patrons, {"id": patron.patron_id}, values)


async def get_credentials(conn: AsyncConnection, patron_id: str) -> CredentialSet:
    row = (
        await conn.execute(select(credentials).where(credentials.c.patron_id == patron_id))
    ).first()
    cards = (
        await conn.execute(
            select(library_cards)
            .where(library_cards.c.patron_id == patron_id)
            .order_by(library_cards.c.issued_on, library_cards.c.card_number)
        )
    ).all()
    card_models = tuple(
        LibraryCard(
            card_number=c.card_number,
            issued_on=c.issued_on,
            status=c.status,
            reported_lost_at=aware(c.reported_lost_at),
            guarantor_card=c.guarantor_card,
        )
        for c in cards
    )
    if row is None:
        return CredentialSet(patron_id=patron_id, cards=card_models)
    smart_id = None
    if row.smart_id_hkid is not None:
        smart_id = SmartIdCard(
            hkid_number=row.smart_id_hkid,
            date_of_issue=row.smart_id_date_of_issue,
            status=row.smart_id_status,
            reported_lost_at=aware(row.smart_id_reported_lost_at),
            continue_with_replacement=row.smart_id_continue,
        )
    return CredentialSet(
        patron_id=patron_id,
        cards=card_models,
        smart_id=smart_id,
        hkid_number=row.hkid_number,
        password_hash=row.password_hash,
        phone_digits_hash=row.phone_digits_hash,
        failed_sign_ins=row.failed_sign_ins,
        locked_at=aware(row.locked_at),
    )


async def save_credentials(conn: AsyncConnection, creds: CredentialSet) -> None:
    sid = creds.smart_id
    await save(
        conn,
        credentials,
        {"patron_id": creds.patron_id},
        {
            "password_hash": creds.password_hash,
            "phone_digits_hash": creds.phone_digits_hash,
            "failed_sign_ins": creds.failed_sign_ins,
            "locked_at": creds.locked_at,
            "smart_id_hkid": sid.hkid_number if sid else None,
            "smart_id_date_of_issue": sid.date_of_issue if sid else None,
            "smart_id_status": sid.status if sid else None,
            "smart_id_reported_lost_at": sid.reported_lost_at if sid else None,
            "smart_id_continue": sid.continue_with_replacement if sid else False,
            "hkid_number": creds.hkid_number,
        },
    )
    for card in creds.cards:
        await save(
            conn,
            library_cards,
            {"card_number": card.card_number},
            {
                "patron_id": creds.patron_id,
                "issued_on": card.issued_on,
                "status": card.status,
                "reported_lost_at": card.reported_lost_at,
                "guarantor_card": card.guarantor_card,
            },
        )


async def card_owner(conn: AsyncConnection, card_number: str) -> str | None:
    """The account a library card number belongs to, whatever the card's status."""
    row = (
        await conn.execute(
            select(library_cards.c.patron_id).where(library_cards.c.card_number == card_number)
        )
    ).first()
    return row.patron_id if row else None


async def smart_id_owner(conn: AsyncConnection, hkid_number: str) -> str | None:
    row = (
        await conn.execute(
            select(credentials.c.patron_id).where(credentials.c.smart_id_hkid == hkid_number)
        )
    ).first()
    return row.patron_id if row else None


async def hkid_owner(conn: AsyncConnection, hkid_number: str) -> str | None:
    """The account whose registration gave this (normalised) HKID number (HKPL-08)."""
    row = (
        await conn.execute(
            select(credentials.c.patron_id).where(credentials.c.hkid_number == hkid_number)
        )
    ).first()
    return row.patron_id if row else None


async def guaranteed_by(conn: AsyncConnection, library: str, guarantor_id: str) -> list[Patron]:
    """HKPL-16: the patrons whose linked guarantor is ``guarantor_id``."""
    rows = (
        await conn.execute(
            select(patrons)
            .where(patrons.c.guarantor_patron_id == guarantor_id)
            .order_by(patrons.c.registered_on, patrons.c.id)
        )
    ).all()
    return [_patron(row, library) for row in rows]
