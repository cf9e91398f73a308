"""``python -m services.circulation --library cityu``: one library's circulation process."""

from __future__ import annotations

import argparse

from libs.common.clock import SystemClock
from libs.common.federation import load_federation
from libs.common.logs import configure_logging
from libs.common.messaging import connect_bus
from libs.common.process import run
from services.circulation.app import create_app
from services.circulation.runtime import build_runtime
from services.circulation.settings import CirculationSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.circulation")
    parser.add_argument("--library", required=True)
    parser.add_argument("--federation", default=None)
    args = parser.parse_args()
    settings = CirculationSettings(library=args.library)
    fed = load_federation(args.federation)
    lib = fed.library(args.library)
    configure_logging(f"circulation:{lib.code}", settings.log_level)

    async def build():
        clock = SystemClock()
        bus = await connect_bus(settings.bus_url, lib.code, settings.secret_key)
        runtime = build_runtime(lib.code, settings.database_url, bus, clock)
        return runtime, create_app(runtime, fed, settings.secret_key, settings.token_ttl_seconds)

    run(build, fed.federation.host, lib.port)


if __name__ == "__main__":
    main()
