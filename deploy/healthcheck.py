"""The container's health check: the unit named by ILLFED_UNIT answers /health on its port.

python -m deploy.healthcheck      # exit 0 when healthy, 1 when not
"""

from __future__ import annotations

import os
import sys
import urllib.request

from deploy.units import units
from libs.common.federation import load_federation


def main() -> int:
    key = os.environ.get("ILLFED_UNIT")
    if not key:
        return 0  # a one-shot job (migrations) serves nothing
    port = next(u.port for u in units(load_federation()) if u.key == key)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as reply:
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
