"""The hop benchmark: illfed's state change → outbox → RabbitMQ → consumer against the floor
of the same hop with nothing but asyncpg and aio-pika (see ``bench.hop.hop_bench``)."""
