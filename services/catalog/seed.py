"""Catalogue data made up for the demo and the benchmark, deterministically.

* :func:`demo_records` — the demo consortium's catalogue: a few thousand records in English,
  Chinese and Portuguese on Hong Kong and Macau subjects, of every material type, held across
  the libraries of ``deploy/federation.toml`` (mostly AVAILABLE). :func:`seed_demo` loads it
  once.
* :func:`synthetic_records` — as many records as asked (about three holdings each), streamed,
  for the search benchmark.

The same seed gives the same catalogue on every machine.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import make_engine
from libs.common.federation import Federation
from services.catalog.domain.identifiers import isbn13_check_digit, issn_check_digit
from services.catalog.domain.model import BibRecord, Holding
from services.catalog.domain.views import LoadReport

FEDERATION_FILE = Path(__file__).resolve().parents[2] / "deploy" / "federation.toml"
DEMO_RECORDS = 3000
DEMO_SEED = 2024


def _list(text: str) -> list[str]:
    return [" ".join(item.split()) for item in text.split("|")]


PLACES_EN = _list(
    """
    Hong Kong | Macau | Kowloon | the New Territories | the Pearl River Delta | South China
    | Guangdong | Shenzhen | East Asia | Southeast Asia | China | Lantau | Taipa and Coloane
    | the Greater Bay Area | Victoria Harbour | Portugal and Asia
    """
)
TOPICS_EN = _list(
    """
    urban planning | public health | colonial administration | higher education | nursing
    practice | maritime trade | Cantonese opera | the film industry | housing policy |
    financial markets | language policy | teacher education | Chinese medicine | tourism |
    the gaming industry | religious life | the legal system | environmental policy | public
    libraries | popular culture | migration | family life | labour movements | architecture
    | food culture | journalism | popular music | archaeology | industrial development |
    banking | transport | social welfare | early childhood education | mental health |
    elderly care | civil society | heritage conservation | street markets | shipping |
    typhoons and climate | public finance | land reclamation | water supply | sports |
    fashion | literature | poetry | translation | bilingual education | information
    technology
    """
)
FORMS_EN = _list(
    """
    A History of {topic} in {place} | {Topic} in {place} | {Topic} in {place}, {y1}-{y2} |
    {Adj} {topic}: the case of {place} | {Topic} and {topic2} in {place} | Essays on {topic}
    in {place} | {place}: {topic} and society | Rethinking {topic} | The politics of {topic}
    in {place} | {Adj} perspectives on {topic} | Handbook of {topic} | {Topic}: an
    introduction | Studies in {topic}
    """
)
ADJECTIVES = _list(
    """
    Modern | Contemporary | Colonial | Postcolonial | Comparative | Critical | Changing |
    Global | Local | Historical | Everyday | Hidden | New
    """
)
PLACES_ZH = _list(
    """
    香港 | 澳門 | 九龍 | 新界 | 珠江三角洲 | 廣東 | 嶺南 | 中國 |
    華南 | 大灣區 | 氹仔 | 路環 | 離島 | 港澳 | 深圳 | 維多利亞港
    """
)
TOPICS_ZH = _list(
    """
    歷史 | 文學 | 教育 | 經濟 | 電影 | 建築 | 宗教 | 飲食文化 | 粵劇
    | 城市規劃 | 公共衞生 | 法律制度 | 社會福利 | 語言政策 | 中醫藥 |
    護理 | 旅遊業 | 博彩業 | 海上貿易 | 殖民管治 | 民間信仰 | 報業 |
    流行音樂 | 地名 | 考古 | 工業發展 | 金融 | 房屋政策 | 交通 |
    文化遺產 | 體育 | 藝術 | 音樂 | 翻譯 | 新詩 | 方言 | 家族 | 婦女
    | 華人社會 | 圖書館
    """
)
SUFFIXES_ZH = _list(
    """
    史 | 研究 | 論集 | 概論 | 初探 | 的發展 | 百年 | 新論 | 讀本 |
    圖錄 | 資料彙編 | 與社會 | 變遷 | 史話 | 口述歷史
    """
)
PLACES_PT = _list(
    """
    Macau | Portugal | Oriente | China | Ásia
    """
)
TOPICS_PT = _list(
    """
    História | Literatura | Arquitectura | Direito | Educação | Religião | Comércio |
    Gastronomia | Língua | Poesia
    """
)
SURNAMES_EN = _list(
    """
    Chan | Wong | Lee | Cheung | Lau | Ho | Leung | Ng | Tsang | Yip | Lo | Fung | Kwok |
    Mok | Tam | Chow | Choi | Yeung | Smith | Carroll | Brown | Taylor | Williams | Evans |
    Hughes | Clarke | Morris | Matthews | da Silva | Pereira | Santos | Costa | Fernandes |
    Ribeiro
    """
)
GIVEN_EN = _list(
    """
    Wai Man | Siu Ming | Ka Yan | Chi Keung | Mei Ling | Kwok Wai | Hoi Yan | Tak Shing |
    John | Mary | Peter | Susan | David | Helen | Richard | Anne | James | Elizabeth |
    Michael | Catherine | António | Maria | João | Ana
    """
)
SURNAMES_ZH = list("陳黃李張劉何梁吳曾葉林鄭羅馮郭譚蔡周楊許")
GIVEN_ZH = list("志明家欣嘉俊文慧國強美玲子健偉詠詩浩然曉冬振華雅琪永康")
PUBLISHERS_EN = _list(
    """
    Hong Kong University Press | The Chinese University Press | City University of Hong Kong
    Press | Routledge | Springer | Palgrave Macmillan | Oxford University Press | Cambridge
    University Press | Macau University Press | Brill
    """
)
PUBLISHERS_ZH = _list(
    """
    三聯書店(香港)有限公司 | 中華書局(香港)有限公司 | 商務印書館(香港)有限公司
    | 澳門基金會 | 澳門大學出版中心 | 香港中文大學出版社 | 天地圖書 | 匯智出版
    """
)
PUBLISHERS_PT = _list(
    """
    Instituto Cultural de Macau | Livros do Oriente | Fundação Macau
    """
)
# (material type, weight): mostly books, every type present.
MATERIALS = [
    ("book", 78),
    ("book_with_disc", 4),
    ("serial", 5),
    ("periodical_back_issue", 2),
    ("media", 4),
    ("thesis", 4),
    ("reference", 3),
]
STATUSES = [
    ("AVAILABLE", 80),
    ("ON_LOAN", 13),
    ("ON_HOLD_SHELF", 2),
    ("IN_TRANSIT", 2),
    ("ON_ILL_LOAN", 1),
    ("MISSING", 1),
    ("IN_PROCESSING", 1),
]
# Holdings per record: 1 to 6, three on average.
COPIES = [(1, 21), (2, 22), (3, 20), (4, 17), (5, 12), (6, 8)]


@dataclass(frozen=True)
class LibraryInfo:
    code: str
    consortium: str
    service_points: tuple[str, ...]


def federation_members(path: Path = FEDERATION_FILE) -> list[LibraryInfo]:
    """The libraries of the federation file, in its order."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return [
        LibraryInfo(
            lib["code"], lib["consortium"], tuple(sp["code"] for sp in lib["service_points"])
        )
        for lib in data["libraries"]
    ]


def _weighted(pairs):
    values = [v for v, _ in pairs]
    cumulative, total = [], 0
    for _, w in pairs:
        total += w
        cumulative.append(total)
    return values, cumulative


class _Maker:
    def __init__(self, seed: int, libraries: list[LibraryInfo]) -> None:
        self.rng = random.Random(seed)
        self.libraries = libraries
        self.by_consortium: dict[str, list[LibraryInfo]] = {}
        for lib in libraries:
            self.by_consortium.setdefault(lib.consortium, []).append(lib)
        self.materials = _weighted(MATERIALS)
        self.statuses = _weighted(STATUSES)
        self.copies = _weighted(COPIES)

    def pick(self, weighted):
        values, cumulative = weighted
        return self.rng.choices(values, cum_weights=cumulative)[0]

    def title(self, language: str) -> tuple[str, list[str], str]:
        """(title, subjects, place) in ``language``."""
        rng = self.rng
        if language == "chi":
            place, topic = rng.choice(PLACES_ZH), rng.choice(TOPICS_ZH)
            title = place + topic + rng.choice(SUFFIXES_ZH)
            if rng.random() < 0.25:
                start = rng.randint(1841, 1990)
                title += f" : {start}年至{start + rng.randint(5, 34)}年"
            return title, [f"{place} -- {topic}"], place
        if language == "por":
            place, topic = rng.choice(PLACES_PT), rng.choice(TOPICS_PT)
            return f"{topic} de {place}", [f"{place} -- {topic}"], place
        place = rng.choice(PLACES_EN)
        topic, topic2 = rng.sample(TOPICS_EN, 2)
        y1 = rng.randint(1841, 1990)
        title = rng.choice(FORMS_EN).format(
            topic=topic,
            Topic=topic[0].upper() + topic[1:],
            topic2=topic2,
            place=place,
            Adj=rng.choice(ADJECTIVES),
            y1=y1,
            y2=y1 + rng.randint(5, 60),
        )
        subject_place = place.removeprefix("the ")
        subjects = [f"{subject_place} -- {topic.removeprefix('the ').capitalize()}"]
        return title, subjects, place

    def author(self, language: str) -> str:
        rng = self.rng
        if language == "chi":
            return rng.choice(SURNAMES_ZH) + "".join(rng.sample(GIVEN_ZH, rng.choice((1, 2))))
        return f"{rng.choice(SURNAMES_EN)}, {rng.choice(GIVEN_EN)}"

    def holders(self, place: str, n: int) -> list[LibraryInfo]:
        """``n`` libraries, mostly of the consortium the subject belongs to."""
        rng = self.rng
        macau = place in ("Macau", "澳門", "氹仔", "路環", "Taipa and Coloane", "Portugal")
        home = "MALA" if macau and rng.random() < 0.7 else rng.choice(("HKALL", "HKALL", "HKPL"))
        pool = self.by_consortium.get(home, self.libraries)
        if rng.random() < 0.3:
            pool = self.libraries
        chosen = rng.sample(pool, min(n, len(pool)))
        if len(chosen) < n:
            others = [lib for lib in self.libraries if lib not in chosen]
            chosen += rng.sample(others, min(n - len(chosen), len(others)))
        return chosen

    def record(self, n: int) -> BibRecord:
        rng = self.rng
        language = rng.choices(("eng", "chi", "por"), weights=(55, 40, 5))[0]
        material = self.pick(self.materials)
        title, subjects, place = self.title(language)
        if material in ("serial", "periodical_back_issue"):
            where, what = subjects[0].split(" -- ")
            if language == "chi":
                title = f"{where}{what}學報 第{rng.randint(1, 60)}期"
            else:
                kind = rng.choice(("Journal of", "Review of", "Bulletin of"))
                title = f"{kind} {what} ({where}), vol. {rng.randint(1, 60)}"
        authors = (
            []
            if material in ("serial", "periodical_back_issue")
            else [self.author(language) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        )
        isbns: tuple[str, ...] = ()
        issn = None
        if material in ("book", "book_with_disc", "reference"):
            prefix = {"chi": "97896", "por": "97899"}.get(language, "9781")
            body = f"{prefix}{n:0{12 - len(prefix)}d}"
            isbns = (body + isbn13_check_digit(body),)
        elif material in ("serial", "periodical_back_issue"):
            first7 = f"{n % 10_000_000:07d}"
            issn = first7 + issn_check_digit(first7)
        if material == "thesis":
            title = f"{title} (thesis)" if language != "chi" else f"{title}（學位論文）"
        publisher = rng.choice(
            PUBLISHERS_ZH
            if language == "chi"
            else PUBLISHERS_PT
            if language == "por"
            else PUBLISHERS_EN
        )
        year = min(2024, int(2025 - rng.expovariate(1 / 18)))
        copies = self.pick(self.copies)
        held = []
        for k, lib in enumerate(self.holders(place, copies)):
            prefix = "PL" if language == "chi" else "DS"
            held.append(
                Holding(
                    library=lib.code,
                    item_id=f"{lib.code}-{n:07d}-{k}",
                    status=self.pick(self.statuses),
                    material_type=material,
                    service_point=rng.choice(lib.service_points),
                    call_number=f"{prefix}{rng.randint(1, 999)}.{rng.randint(1, 99)} {year}",
                    barcode=f"{lib.code.upper()}{n:08d}{k}",
                )
            )
        return BibRecord(
            title=title,
            authors=tuple(authors),
            subjects=tuple(subjects),
            isbns=isbns,
            issn=issn,
            language=language,
            publisher=publisher,
            year=max(year, 1900),
            material_type=material,
            holdings=tuple(held),
            source_id=f"synthetic-{n}",
            position=n,
        )


def synthetic_records(
    count: int, *, seed: int = 42, libraries: list[LibraryInfo] | None = None, start: int = 0
) -> Iterator[BibRecord]:
    """``count`` made-up records, streamed. Each has its own ISBN or ISSN (theses and media
    have none), so none merges with another."""
    maker = _Maker(seed, libraries or federation_members())
    for n in range(start, start + count):
        yield maker.record(n)


def demo_records(
    count: int = DEMO_RECORDS, libraries: list[LibraryInfo] | None = None
) -> list[BibRecord]:
    """The demo consortium's catalogue (held by ``libraries``, the federation file's by
    default)."""
    return list(synthetic_records(count, seed=DEMO_SEED, libraries=libraries))


async def seed_demo(
    conn: AsyncConnection, libraries: list[LibraryInfo] | None = None
) -> LoadReport | None:
    """Load the demo catalogue unless the catalogue already has records (seeded once).
    Returns what was loaded, or None when nothing was."""
    from services.catalog.adapters.loading import load_records
    from services.catalog.adapters.tables import records

    if await conn.scalar(select(func.count()).select_from(records)):
        return None
    libraries = libraries or federation_members()
    members = {lib.code: lib.consortium for lib in libraries}
    return await load_records(conn, demo_records(libraries=libraries), members=members)


async def seed_catalogue(fed: Federation, database_url: str) -> LoadReport | None:
    """The demo catalogue of ``fed``'s libraries, loaded once into the catalogue database at
    ``database_url`` (what both launchers call at start)."""
    libraries = [
        LibraryInfo(lib.code, lib.consortium, tuple(sp.code for sp in lib.service_points))
        for lib in fed.libraries
    ]
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            return await seed_demo(conn, libraries)
    finally:
        await engine.dispose()
