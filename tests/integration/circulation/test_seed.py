"""The demo patrons are registered once and can sign in as the seed's docstring says."""

from __future__ import annotations

from libs.common.db import unit_of_work
from libs.common.federation import default_federation
from services.circulation.seed import seed_demo_patrons
from tests.integration.circulation.conftest import CHEAP_HASHER, LIBRARY


async def test_demo_patrons_sign_in_HKPL_08_HKPL_14_HKPL_16(desk):
    fed = default_federation()
    async with unit_of_work(desk.runtime.engine) as conn:
        added = await seed_demo_patrons(conn, fed, LIBRARY, desk.clock, CHEAP_HASHER)
        again = await seed_demo_patrons(conn, fed, LIBRARY, desk.clock, CHEAP_HASHER)
    # This module's database holds no other test's patrons.
    assert (added, again) == (3, 0)
    for identifier, secret in (
        ("HKPL000001", "demo-reader"),
        ("A123456(3)", "4567"),
        ("HKPL000003", "2468"),
    ):
        res = await desk.sign_in(identifier, secret)
        assert res.status_code == 201, (identifier, res.text)
    async with unit_of_work(desk.runtime.engine) as conn:
        assert await seed_demo_patrons(conn, fed, "cityu", desk.clock) == 0
