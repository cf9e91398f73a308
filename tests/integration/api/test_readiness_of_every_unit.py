"""Every unit of the federation, started as the launcher starts it, answers /ready with 200
and names each queue it reads; the broker's dead-letter queues included."""

from __future__ import annotations

import pytest

from tests.integration.api.services import service_client

UNITS = ["catalog", "circulation-cityu", "notifier", "requests"]


@pytest.mark.parametrize("key", UNITS)
async def test_a_started_unit_is_ready_and_names_what_it_reads(key, tmp_path):
    async with service_client(key, "sqlite", tmp_path) as client:
        await client.runtime.start()
        try:
            res = await client.get("/ready")
            assert res.status_code == 200, res.text
            checks = res.json()["checks"]
            assert checks["database"] == checks["bus"] == "ok"
            consumers = [name for name in checks if name.startswith("consumer:")]
            assert consumers and all(checks[name] == "ok" for name in consumers)
            if key == "requests":
                # The broker parks every queue's dead letters for the operators.
                assert "consumer:catalog.items.dlq" in checks
        finally:
            await client.runtime.stop()
