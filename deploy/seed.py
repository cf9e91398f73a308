"""The demo consortium's starting data, written once (a second start finds it and adds
nothing). Items are added at their owning library through the same code the API uses, so
their ``item.changed`` events leave through the outbox and build the union catalogue."""

from __future__ import annotations

from libs.common.clock import SystemClock
from libs.common.db import make_engine, unit_of_work
from libs.common.federation import Federation
from services.circulation.adapters import items_repo
from services.circulation.seed import seed_demo_patrons

# (title, authors, language, material type, publisher, year) — a shelf every library shares
# in part, so the catalogue has works held by several libraries.
SHELF = [
    ("香港歷史", ["劉智鵬"], "zh", "book", "中華書局", 2019),
    ("澳門文學史", ["鄭煒明"], "zh", "book", "澳門基金會", 2012),
    ("Hong Kong: A History", ["Steve Tsang"], "en", "book", "I.B. Tauris", 2004),
    (
        "Macau: A Cultural Janus",
        ["Christina Miu Bing Cheng"],
        "en",
        "book",
        "Hong Kong University Press",
        1999,
    ),
    (
        "Cantonese: A Comprehensive Grammar",
        ["Stephen Matthews", "Virginia Yip"],
        "en",
        "book_with_disc",
        "Routledge",
        2011,
    ),
    ("Journal of Asian Studies, vol. 80", [], "en", "serial", "Cambridge University Press", 2021),
    ("香港電影百年", ["羅卡"], "zh", "media", "香港電影資料館", 2017),
    (
        "Teacher identity in Hong Kong secondary schools",
        ["Chan Wai Man"],
        "en",
        "thesis",
        "EdUHK",
        2020,
    ),
    ("Oxford English Dictionary", ["John Simpson"], "en", "reference", "Oxford", 1989),
    (
        "Introduction to Algorithms",
        ["Thomas H. Cormen", "Charles E. Leiserson"],
        "en",
        "book",
        "MIT Press",
        2009,
    ),
    ("紅樓夢", ["曹雪芹"], "zh", "book", "人民文學出版社", 1982),
    ("Nursing Fundamentals", ["Patricia Potter", "Anne Perry"], "en", "book", "Elsevier", 2021),
]


def demo_items(library: str, service_points: list[str]) -> list[dict]:
    """Deterministic items of one library: a share of the shelf, two copies of some."""
    out = []
    for n, (title, authors, lang, mtype, publisher, year) in enumerate(SHELF):
        if (n + len(library)) % 3 == 0:
            continue  # not every library holds every title
        copies = 2 if n % 4 == 0 else 1
        for copy in range(copies):
            out.append(
                {
                    "id": f"{library}-{n:03d}-{copy}",
                    "barcode": f"{library.upper()}{n:04d}{copy}",
                    "title": title,
                    "authors": authors,
                    "language": lang,
                    "material_type": mtype,
                    "publisher": publisher,
                    "year": year,
                    "isbn": f"97896200{n:04d}{(n * 7) % 10}" if mtype.startswith("book") else None,
                    "service_point": service_points[copy % len(service_points)],
                    "call_number": f"{'PL' if lang == 'zh' else 'DS'}{100 + n}.{copy}",
                    "section": "adult",
                    "price_minor": 25000 + 1000 * n,
                    "pages": 200 + 10 * n,
                }
            )
    return out


async def seed_library(fed: Federation, library: str, url: str) -> None:
    """One library's demo items and patrons, unless it has items already."""
    clock = SystemClock()
    engine = make_engine(url)
    try:
        async with unit_of_work(engine) as conn:
            if await items_repo.count_items(conn):
                return  # seeded before: keep what is there
            lib = fed.library(library)
            for item in demo_items(lib.code, [sp.code for sp in lib.service_points]):
                await items_repo.add_item(conn, lib.code, item, clock)
            await seed_demo_patrons(conn, fed, lib.code, clock)
    finally:
        await engine.dispose()


async def seed_federation(fed: Federation, urls: dict[str, str]) -> None:
    for lib in fed.libraries:
        await seed_library(fed, lib.code, urls[f"circulation-{lib.code}"])
