"""The guided tour, as a newcomer runs it, in both ways of running: an HKALL student at EdUHK
borrows a book from another member, collects it at Tseung Kwan O and returns it at MMW
(HKALL-05, HKALL-06, HKALL-07); a MALA student at UM borrows from KWNC (MALA-04). Every side
ends the loan complete. Then every lending library's database, and every message a lender
received, holds none of the borrowers' personal data: only a pseudonym, the home library and
the category."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import MetaData, select

from libs.common.db import make_engine
from services.circulation.seed import ACADEMIC_PATRONS, SURNAMES
from tests.e2e.ill.conftest import LIBRARIES, ROOT

pytestmark = [pytest.mark.pg, pytest.mark.rabbit]


def _tour(federation) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "deploy.tour", "--federation", str(federation.path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_the_tour_walks_an_hkall_and_a_mala_loan_to_completion_HKALL_07_MALA_04(federation):
    out = _tour(federation)
    assert "== Final states ==" in out
    finals = out.split("== Final states ==")[1]
    for consortium in ("HKALL", "MALA"):
        line = next(x for x in finals.splitlines() if x.strip().startswith(consortium))
        assert "requester=Completed" in line and "broker=LoanCompleted" in line, line
        assert "supplier=LoanCompleted" in line, line
    assert "tko" in out and "mmw" in out  # collected at one service point, returned at another


def _personal_data(code: str) -> list[str]:
    """What the seed gave the borrowing library's demo users: names, e-mail, room."""
    position = [lib[0] for lib in LIBRARIES].index(code)
    # The test federation lists its libraries in this order, as the seed numbers them.
    surname_en, surname_zh = SURNAMES[position % len(SURNAMES)]
    consortium = next(lib[2] for lib in LIBRARIES if lib[0] == code)
    out = []
    for n, (_, name_en, name_zh, _) in enumerate(ACADEMIC_PATRONS[consortium], start=1):
        out += [
            f"{surname_en} {name_en}",
            f"{surname_zh}{name_zh}",
            f"patron{n}@{code}.example.edu",
        ]
        out.append(f"Residence {position + 1}, Room {n:03d}")
    return out


@pytest.mark.parametrize("way", ["distributed"])
async def test_no_lender_holds_a_borrowers_personal_data(way, request):
    federation = request.getfixturevalue(f"{way}_federation")
    _tour(federation)
    borrowers = {"eduhk", "um"}
    secrets = [s for code in borrowers for s in _personal_data(code)]
    for code, *_ in LIBRARIES:
        if code in borrowers:
            continue
        engine = make_engine(federation.databases[f"circulation_{code}"])
        metadata = MetaData()
        async with engine.connect() as conn:
            await conn.run_sync(metadata.reflect)
            dump = []
            for table in metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                dump += [json.dumps([str(v) for v in r], ensure_ascii=False) for r in rows]
        await engine.dispose()
        text = "\n".join(dump)
        assert "ill_lending" in metadata.tables or code not in ("hku", "hkbu", "kwnc")
        found = [s for s in secrets if s in text]
        assert found == [], f"{code}'s database holds {found}"
    # Every message a library receives is one the broker sent it through its outbox.
    engine = make_engine(federation.databases["requests"])
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect, only=["outbox"])
        outbox = metadata.tables["outbox"]
        rows = (await conn.execute(select(outbox.c.routing_key, outbox.c.body))).all()
    await engine.dispose()
    to_lenders = [r.body for r in rows if r.routing_key.split(".")[-1] not in borrowers]
    assert any('"ill.request"' in body for body in to_lenders)
    found = [s for s in secrets if any(s in body for body in to_lenders)]
    assert found == [], f"messages to lenders carried {found}"
