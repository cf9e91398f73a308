"""``python -m services.requests``: the request broker as its own process."""

from __future__ import annotations

import argparse

from libs.common.clock import SystemClock
from libs.common.federation import load_federation
from libs.common.logs import configure_logging
from libs.common.messaging import connect_bus
from libs.common.process import run
from services.requests.app import create_app
from services.requests.runtime import build_runtime
from services.requests.settings import RequestsSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.requests")
    parser.add_argument("--federation", default=None)
    args = parser.parse_args()
    settings = RequestsSettings()
    fed = load_federation(args.federation)
    configure_logging("requests", settings.log_level)

    async def build():
        clock = SystemClock()
        bus = await connect_bus(settings.bus_url, "requests", settings.secret_key)
        runtime = build_runtime(fed, settings.database_url, bus, clock)
        return runtime, create_app(runtime, fed, settings.secret_key, settings.token_ttl_seconds)

    run(build, fed.federation.host, fed.services["requests"].port)


if __name__ == "__main__":
    main()
