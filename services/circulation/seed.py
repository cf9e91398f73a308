"""Demo patrons of the Hong Kong Public Libraries member, registered through the same
handlers the API uses (HKPL-16 guarantor, HKPL-14 smart ID, argon2 secrets of HKPL-08).

Each academic library (HKALL, MALA) gets one user of each category its consortium lends to:
card ``<LIBRARY>000001`` (e.g. ``EDUHK000001``, a student) with password ``demo-reader``.

Sign in to the HKPL demo with card ``HKPL000001`` and password ``demo-reader``, card
``HKPL000002`` or its smart ID card's HKID ``A123456(3)`` with the phone digits ``4567``, or
the junior's card ``HKPL000003`` with ``2468``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.clock import Clock
from libs.common.federation import Federation
from services.circulation.adapters.tables import patrons
from services.circulation.domain.hashing import SecretHasher
from services.circulation.domain.patrons import Address, Guarantor, PatronApplication
from services.circulation.handlers import patrons as handlers
from services.circulation.runtime import library_context

DEMO_CONSORTIUM = "HKPL"


def _application(library: str, **fields) -> PatronApplication:
    return PatronApplication(library=library, **fields)


async def seed_demo_patrons(
    conn: AsyncConnection,
    fed: Federation,
    library: str,
    clock: Clock,
    hasher: SecretHasher | None = None,
) -> int:
    """Register the demo patrons once; returns how many were added."""
    if (await conn.execute(select(func.count()).select_from(patrons))).scalar_one():
        return 0
    lib = library_context(library, fed, clock, hasher)
    if fed.library(library).consortium != DEMO_CONSORTIUM:
        return await _seed_academic_patrons(conn, fed, lib)
    adult = _application(
        library,
        category="adult",
        name_en="Chan Tai Man",
        name_zh="陳大文",
        date_of_birth=date(1985, 4, 1),
        address=Address(lines=("Flat 12A, 1 Nathan Road",), district="Yau Tsim Mong"),
        email="chan.taiman@example.hk",
    )
    await handlers.register(conn, lib, adult, card_number="HKPL000001", password="demo-reader")
    smart = _application(
        library,
        category="adult",
        name_en="Wong Mei Ling",
        name_zh="黃美玲",
        date_of_birth=date(1992, 9, 30),
        language="zh-Hant",
        address=Address(lines=("3 Sha Tin Centre Street",), district="Sha Tin"),
        email="wong.meiling@example.hk",
        phone="+852 9123 4567",
    )
    patron, _ = await handlers.register(conn, lib, smart, card_number="HKPL000002")
    await handlers.apply_smart_id(
        conn,
        lib,
        patron.patron_id,
        {
            "english_name": "WONG, Mei Ling",
            "chinese_name": "黃美玲",
            "hkid_number": "A123456(3)",
            "date_of_birth": "1992-09-30",
            "date_of_issue": "2019-05-02",
        },
    )
    junior = _application(
        library,
        category="junior",
        name_en="Lee Siu Ming",
        date_of_birth=date(2014, 2, 14),
        address=Address(lines=("8 Tuen Mun Heung Sze Wui Road",), district="Tuen Mun"),
        email="lee.family@example.hk",
        phone="+852 6000 2468",
        guarantor=Guarantor(
            name="Lee Ka Wai", relationship="parent", date_of_birth=date(1980, 7, 7)
        ),
    )
    await handlers.register(conn, lib, junior, card_number="HKPL000003")
    return 3


# The academic libraries' demo users, one of each category their consortium lends to (HKALL-08,
# MALA-01), so a newcomer can sign in anywhere and borrow from another member. Card
# ``<LIBRARY>000001`` is a student, ``…002`` academic staff (HKALL) or staff (MALA), ``…003`` a
# postgraduate (HKALL); every password is ``demo-reader``.
ACADEMIC_PATRONS = {
    "HKALL": [
        ("student", "Ka Yan", "嘉欣", date(2004, 3, 12)),
        ("academic_staff", "Chi Wai", "志偉", date(1975, 11, 2)),
        ("postgraduate", "Wing Sze", "詠詩", date(1998, 6, 21)),
    ],
    "MALA": [
        ("student", "Sio Mui", "少梅", date(2003, 8, 8)),
        ("staff", "Kuok Hong", "國雄", date(1980, 1, 30)),
    ],
}


def demo_card(library: str, n: int) -> str:
    return f"{library.upper()}{n:06d}"


# Surnames to tell one library's demo users from another's (no two libraries share a patron).
SURNAMES = [
    ("Au", "區"),
    ("Fung", "馮"),
    ("Kwok", "郭"),
    ("Lam", "林"),
    ("Mak", "麥"),
    ("Ng", "吳"),
    ("Siu", "蕭"),
    ("Tam", "譚"),
    ("Tse", "謝"),
    ("Wan", "溫"),
    ("Yeung", "楊"),
    ("Yip", "葉"),
]


async def _seed_academic_patrons(conn: AsyncConnection, fed: Federation, lib) -> int:
    consortium = fed.library(lib.code).consortium
    people = ACADEMIC_PATRONS.get(consortium, [])
    domain = fed.library(lib.code).email.split("@")[-1]
    position = [m.code for m in fed.libraries].index(lib.code)
    surname_en, surname_zh = SURNAMES[position % len(SURNAMES)]
    for n, (category, name_en, name_zh, born) in enumerate(people, start=1):
        application = _application(
            lib.code,
            category=category,
            name_en=f"{surname_en} {name_en}",
            name_zh=f"{surname_zh}{name_zh}",
            date_of_birth=born,
            address=Address(lines=(f"Residence {position + 1}, Room {n:03d}",), district="Campus"),
            email=f"patron{n}@{domain}",
        )
        await handlers.register(
            conn, lib, application, card_number=demo_card(lib.code, n), password="demo-reader"
        )
    return len(people)
