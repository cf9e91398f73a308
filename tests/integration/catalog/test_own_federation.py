"""The catalogue runs with the federation file it was started with: a library of that file it
meets first in an item change is catalogued under its own consortium, whatever the
repository's default federation file says (which does not know the library at all)."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.common.contracts import Envelope, ItemChanged
from libs.common.contracts.registry import contract_of
from libs.common.federation import default_federation, load_federation
from libs.common.messaging.delivery import Delivery
from libs.common.messaging.topology import broker_user

from .http import catalogue_client

# Two members the default federation file does not have.
FEDERATION = """
[federation]
name = "Another federation"
host = "127.0.0.1"

[services.catalog]
port = 18601

[services.requests]
port = 18602

[services.notifier]
port = 18603
smtp_port = 18604

[consortia.MALA]
name = "Macau Academic Library Alliance"
currency = "MOP"
timezone = "Asia/Macau"
policy = "mala"

[consortia.HKALL]
name = "Hong Kong Academic Library Link"
currency = "HKD"
timezone = "Asia/Hong_Kong"
policy = "hkall"

[[libraries]]
code = "taipa"
name = "Taipa Library"
consortium = "MALA"
port = 18611
email = "ill@taipa.example.edu"
service_points = [{ code = "main", name = "Taipa counter" }]

[[libraries]]
code = "tuenmun"
name = "Tuen Mun Library"
consortium = "HKALL"
port = 18612
email = "ill@tuenmun.example.edu"
service_points = [{ code = "main", name = "Tuen Mun counter" }]

[[operators]]
client_id = "operator"
name = "Operations"
"""


def _delivery(change: ItemChanged) -> Delivery:
    kind, version = contract_of(change)
    env = Envelope(
        type=kind,
        version=version,
        sender=change.library,
        correlation_id=f"item:{change.item_id}",
        sent_at=datetime.now(UTC),
        payload=change.model_dump(mode="json"),
    )

    async def done() -> None:
        return None

    return Delivery(
        body=env.model_dump_json().encode(),
        queue="catalog.items",
        message_id=env.message_id,
        user_id=broker_user(change.library),
        ack=done,
        nack=done,
    )


async def test_a_new_members_item_is_found_in_its_consortium(database_url, tmp_path):
    path = tmp_path / "federation.toml"
    path.write_text(FEDERATION)
    fed = load_federation(path)
    assert "taipa" not in {lib.code for lib in default_federation().libraries}
    change = ItemChanged(
        library="taipa",
        item_id="taipa-1",
        version=1,
        change="added",
        status="AVAILABLE",
        material_type="book",
        service_point="main",
        title="Taipa houses",
        authors=["Leong Ka Man"],
    )
    async with catalogue_client(database_url, fed) as client:
        [consumer] = client.runtime.consumers
        await consumer.handle(_delivery(change))

        res = await client.get(
            "/api/v1/search",
            params={"q": "taipa", "scope": "consortium", "home_library": "tuenmun"},
        )
        assert res.status_code == 200, res.text
        assert res.json()["results"] == []  # HKALL's search: not there
        res = await client.get(
            "/api/v1/search",
            params={"q": "taipa", "scope": "consortium", "home_library": "taipa"},
        )
        assert [r["title"] for r in res.json()["results"]] == ["Taipa houses"]
        [holding] = res.json()["results"][0]["holdings"]
        assert (holding["library"], holding["consortium"]) == ("taipa", "MALA")
