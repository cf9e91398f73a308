"""`make up` says what to start, with the command, when PostgreSQL or RabbitMQ is not
running, before it prepares anything."""

from __future__ import annotations

import socket

import pytest

from deploy.prepare import check_servers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


async def test_no_postgresql_and_no_rabbitmq_each_get_the_command_that_starts_them():
    with pytest.raises(SystemExit) as stopped:
        await check_servers(
            "127.0.0.1",
            f"amqp://guest:guest@127.0.0.1:{_closed_port()}/illfed",
            pg_port=_closed_port(),
        )
    message = str(stopped.value)
    assert "PostgreSQL is not running on 127.0.0.1:" in message
    assert "sudo service postgresql start" in message
    assert "RabbitMQ is not running on 127.0.0.1:" in message
    assert "sudo service rabbitmq-server start" in message
