"""The floor: the least a hop can cost on this machine's PostgreSQL and RabbitMQ.

Two processes, no framework and no SQLAlchemy:

* ``app``: a plain ASGI app on uvicorn; ``POST /hop`` writes one row and one outbox row in one
  asyncpg transaction, publishes the message with a publisher confirm (aio-pika), marks
  outbox rows sent in batches, and answers;
* ``consumer``: takes each message, writes one row and its inbox row (idempotent by message
  id) in one transaction, acks, and tells the driver (the probe).

    python -m bench.hop.floor app --port P --database URL --amqp URL
    python -m bench.hop.floor consumer --database URL --amqp URL

Both use uvloop and httptools when they are installed, as illfed's units do. The tables are
made by :func:`create_schema`; the exchange and queue by :func:`declare`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import uuid

import aio_pika
import asyncpg

from bench.hop.measure import correlation_of, probe_sender

EXCHANGE = "floor"
QUEUE = "floor.hops"
ROUTING_KEY = "hop"
SCHEMA = """
CREATE TABLE changes (id bigserial PRIMARY KEY, key text NOT NULL, status text NOT NULL,
                      at timestamptz NOT NULL);
CREATE TABLE outbox (id bigserial PRIMARY KEY, message_id text NOT NULL UNIQUE,
                     routing_key text NOT NULL, correlation_id text, body text NOT NULL,
                     created_at timestamptz NOT NULL, sent_at timestamptz);
CREATE TABLE mirror (key text PRIMARY KEY, status text NOT NULL, at timestamptz NOT NULL);
CREATE TABLE inbox (message_id text PRIMARY KEY, processed_at timestamptz NOT NULL);
"""


def dsn(url: str) -> str:
    """asyncpg's DSN of a SQLAlchemy-style URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_schema(url: str) -> None:
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


async def declare(amqp_url: str, queue_type: str = "quorum") -> None:
    """The exchange and the queue, a quorum queue by default as illfed's are."""
    conn = await aio_pika.connect(amqp_url)
    try:
        ch = await conn.channel()
        ex = await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        q = await ch.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": queue_type})
        await q.bind(ex, routing_key=ROUTING_KEY)
    finally:
        await conn.close()


# ---------------------------------------------------------------- the app


class FloorApp:
    def __init__(self, database: str, amqp_url: str) -> None:
        self.database, self.amqp_url = database, amqp_url
        self.pool: asyncpg.Pool | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None
        self._sent: list[int] = []
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(dsn(self.database), min_size=4, max_size=20)
        self.connection = await aio_pika.connect(self.amqp_url)
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        self._marker = asyncio.create_task(self._mark_sent())

    async def _mark_sent(self) -> None:
        """Published rows are marked sent in batches, as a relay does."""
        assert self.pool is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            ids, self._sent = self._sent, []
            await self.pool.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", ids
            )

    async def hop(self, doc: dict) -> int:
        assert self.pool is not None and self.exchange is not None
        key, status = doc["key"], doc["status"]
        message_id = str(uuid.uuid4())
        body = json.dumps(
            {"message_id": message_id, "correlation_id": key, "key": key, "status": status},
            separators=(",", ":"),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO changes (key, status, at) VALUES ($1, $2, now())", key, status
            )
            outbox_id = await conn.fetchval(
                "INSERT INTO outbox (message_id, routing_key, correlation_id, body, created_at)"
                " VALUES ($1, $2, $3, $4, now()) RETURNING id",
                message_id,
                ROUTING_KEY,
                key,
                body,
            )
        await self.exchange.publish(
            aio_pika.Message(
                body.encode(),
                message_id=message_id,
                correlation_id=key,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=ROUTING_KEY,
            mandatory=True,
        )
        self._sent.append(outbox_id)
        self._wake.set()
        return outbox_id

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] == "/hop" and scope["method"] == "POST":
            outbox_id = await self.hop(json.loads(b"".join(chunks)))
            status, answer = 200, b'{"id":%d}' % outbox_id
        elif scope["path"] == "/ready":
            status, answer = 200, b'{"status":"ready"}'
        else:
            status, answer = 404, b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


async def serve_app(port: int, database: str, amqp_url: str) -> None:
    import uvicorn

    app = FloorApp(database, amqp_url)
    await app.start()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, lifespan="off", log_level="warning"
    )
    await uvicorn.Server(config).serve()


# ---------------------------------------------------------------- the consumer


async def consume(database: str, amqp_url: str, prefetch: int) -> None:
    pool = await asyncpg.create_pool(dsn(database), min_size=4, max_size=20)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(QUEUE, ensure=False)
    committed = probe_sender()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        doc = json.loads(message.body)
        async with pool.acquire() as conn, conn.transaction():
            new = await conn.fetchval(
                "INSERT INTO inbox (message_id, processed_at) VALUES ($1, now()) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                message.message_id,
            )
            if new:
                await conn.execute(
                    "INSERT INTO mirror (key, status, at) VALUES ($1, $2, now()) "
                    "ON CONFLICT (key) DO UPDATE SET status = excluded.status, at = excluded.at",
                    doc["key"],
                    doc["status"],
                )
        await message.ack()
        committed(correlation_of(message.body))

    await queue.consume(on_message)
    await asyncio.Future()


def _run(coro) -> None:
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is None:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hop.floor", description=__doc__)
    parser.add_argument("role", choices=("app", "consumer"))
    parser.add_argument("--database", required=True)
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--prefetch", type=int, default=16)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.role == "app":
            _run(serve_app(args.port, args.database, args.amqp))
        else:
            _run(consume(args.database, args.amqp, args.prefetch))


if __name__ == "__main__":
    main()
