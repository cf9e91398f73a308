"""A small union catalogue that the search tests know by heart."""

from __future__ import annotations

from itertools import count

from sqlalchemy.ext.asyncio import AsyncConnection

from services.catalog.adapters.loading import load_records
from services.catalog.domain.intake import records_from_json
from services.catalog.domain.model import BibRecord
from services.catalog.domain.query import Patron
from services.catalog.seed import federation_members

EDUHK = Patron("eduhk", "HKALL")
CUHK = Patron("cuhk", "HKALL")
KWNC = Patron("kwnc", "MALA")


_items = count(1)


def held(*pairs: str, mt: str | None = None) -> list[dict]:
    """Holdings from "library:STATUS" strings, each a new item."""
    out = []
    for pair in pairs:
        library, _, status = pair.partition(":")
        item_id = f"{library}-{next(_items):04d}"
        item = {"library": library, "item_id": item_id, "status": status or "AVAILABLE"}
        if mt:
            item["material_type"] = mt
        out.append(item)
    return out


RECORDS = [
    {
        "id": "hk-history-zh",
        "title": "香港歷史",
        "authors": ["劉智鵬"],
        "language": "chi",
        "year": 2019,
        "subjects": ["香港 -- 歷史"],
        "holdings": held("cityu", "hkbu:ON_LOAN", "eduhk"),
    },
    {
        "id": "kowloon",
        "title": "九龍城寨",
        "authors": ["林志明"],
        "language": "chi",
        "year": 2015,
        "subjects": ["香港 -- 社會"],
        "holdings": held("um:ON_LOAN"),
    },
    {
        "id": "hk-history-en",
        "title": "Hong Kong: A History",
        "authors": ["Steve Tsang"],
        "isbn": "978-962-209-944-9",
        "language": "eng",
        "year": 2004,
        "subjects": ["Hong Kong -- History"],
        "holdings": held("hku", "cuhk:ON_LOAN"),
    },
    {
        "id": "macau-lit",
        "title": "澳門文學史",
        "authors": ["鄭煒明"],
        "language": "chi",
        "year": 2012,
        "holdings": held("um", "usj:ON_LOAN"),
    },
    {
        "id": "jas",
        "title": "Journal of Asian Studies",
        "issn": "0021-9118",
        "material_type": "serial",
        "language": "eng",
        "holdings": held("hku", "um"),
    },
    {
        "id": "oed",
        "title": "Oxford English Dictionary",
        "authors": ["John Simpson"],
        "material_type": "reference",
        "language": "eng",
        "year": 1989,
        "holdings": held("cityu", "mpu"),
    },
    {
        "id": "thesis",
        "title": "Teacher identity in Hong Kong secondary schools",
        "authors": ["Chan Wai Man"],
        "material_type": "thesis",
        "language": "eng",
        "year": 2020,
        "holdings": held("eduhk"),
    },
    {
        "id": "film",
        "title": "香港電影百年",
        "authors": ["羅卡"],
        "material_type": "media",
        "language": "chi",
        "year": 2017,
        "holdings": held("hkpl", "polyu"),
    },
    {
        "id": "macau",
        "title": "Macau",
        "authors": ["Leonor Diaz de Seabra"],
        "language": "eng",
        "year": 2016,
        "holdings": held("um", "cuhk:ON_LOAN"),
    },
    {
        "id": "macau-janus",
        "title": "Macau: a cultural Janus",
        "authors": ["Christina Cheng"],
        "language": "eng",
        "year": 1999,
        "holdings": held("hkbu", "usj"),
    },
    {
        "id": "gaming",
        "title": "Gaming and society",
        "authors": ["Wong Kai Man"],
        "subjects": ["Macau -- Social conditions"],
        "language": "eng",
        "year": 2011,
        "holdings": held("um"),
    },
    {
        "id": "on-loan",
        "title": "Cantonese opera",
        "authors": ["Yung Sai-shing"],
        "language": "eng",
        "year": 2008,
        "holdings": held("cityu:ON_LOAN", "hku:IN_TRANSIT"),
    },
]

MEMBERS = {lib.code: lib.consortium for lib in federation_members()}


def parse(items: list[dict]) -> list[BibRecord]:
    out = list(records_from_json(items))
    assert all(isinstance(r, BibRecord) for r in out), out
    return out


async def load(conn: AsyncConnection, items: list[dict] = RECORDS):
    return await load_records(conn, parse(items), members=MEMBERS)
