"""What a principal may publish is checked by RabbitMQ itself: a library sends its own events
and commands to the request broker and the notifier, and the broker refuses anything addressed
to another library's queue."""

from __future__ import annotations

import uuid

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from libs.common.messaging import broker_password, principal_url
from libs.common.messaging.topology import COMMANDS, EVENTS
from libs.common.settings import DEV_SECRET
from tests.conftest import federation_vhost


@pytest.fixture(scope="module")
def vhost_url():
    """A virtual host of this module's own: its queues' depths are what the tests read."""
    with federation_vhost("illfed-test-perm") as admin_url:
        yield admin_url


async def _publish(admin_url: str, principal: str, exchange: str, key: str) -> None:
    url = principal_url(admin_url, principal, broker_password(DEV_SECRET, principal))
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        ex = await channel.get_exchange(exchange, ensure=False)
        await ex.publish(aio_pika.Message(b"{}", message_id=uuid.uuid4().hex), routing_key=key)
    finally:
        await conn.close()


async def _depth(admin_url: str, queue: str) -> int:
    conn = await aio_pika.connect(admin_url)
    try:
        q = await (await conn.channel()).declare_queue(queue, passive=True)
        return q.declaration_result.message_count
    finally:
        await conn.close()


@pytest.mark.rabbit
async def test_a_library_cannot_address_another_librarys_queue(vhost_url):
    before = await _depth(vhost_url, "circulation.hku.inbox")
    with pytest.raises(ChannelAccessRefused):
        await _publish(vhost_url, "cityu", COMMANDS, "circulation.hku")
    assert await _depth(vhost_url, "circulation.hku.inbox") == before


@pytest.mark.rabbit
async def test_a_library_sends_commands_to_the_shared_services_and_its_own_events(vhost_url):
    queues = ("notifier.notices", "requests.inbox", "catalog.items")
    before = [await _depth(vhost_url, q) for q in queues]
    await _publish(vhost_url, "cityu", COMMANDS, "notifier")
    await _publish(vhost_url, "cityu", COMMANDS, "requests")
    await _publish(vhost_url, "cityu", EVENTS, "item.changed")
    assert [await _depth(vhost_url, q) for q in queues] == [n + 1 for n in before]


@pytest.mark.rabbit
async def test_only_libraries_broadcast_item_changes_and_only_the_broker_routes_to_libraries(
    vhost_url,
):
    items, hku = "catalog.items", "circulation.hku.inbox"
    before = [await _depth(vhost_url, items), await _depth(vhost_url, hku)]
    with pytest.raises(ChannelAccessRefused):
        await _publish(vhost_url, "notifier", EVENTS, "item.changed")
    with pytest.raises(ChannelAccessRefused):
        await _publish(vhost_url, "cityu", EVENTS, "request.placed")
    await _publish(vhost_url, "requests", COMMANDS, "circulation.hku")
    assert [await _depth(vhost_url, items), await _depth(vhost_url, hku)] == [
        before[0],
        before[1] + 1,
    ]
