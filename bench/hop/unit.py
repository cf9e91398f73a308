"""One illfed unit, served exactly as ``python -m deploy.launch serve-unit`` serves it, with
the hop probe on its consumers: after a message is handled (committed and acked) the driver
is told its correlation id.

    python -m bench.hop.unit --federation FILE --data DIR serve-unit catalog
"""

from __future__ import annotations

import sys

from bench import cpu_profile
from bench.hop.measure import correlation_of, probe_sender
from deploy import launch


def _probed(build_unit):
    async def build(*args, **kwargs):
        runtime, app = await build_unit(*args, **kwargs)
        committed = probe_sender()
        for consumer in runtime.consumers:
            handle = consumer.handle

            async def probed(delivery, handle=handle):
                await handle(delivery)
                committed(correlation_of(delivery.body))

            # Consumer.start subscribes self.handle: this one.
            consumer.handle = probed
        return runtime, app

    return build


def main() -> None:
    cpu_profile.install_from_env()  # the bench's --cpu-profile
    launch.build_unit = _probed(launch.build_unit)
    launch.main(sys.argv[1:])


if __name__ == "__main__":
    main()
