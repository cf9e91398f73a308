"""Write the federation's RabbitMQ definitions file (users, permissions, topic permissions,
exchanges, queues, bindings), generated from the topology the services use.

    python -m deploy.rabbitmq_definitions                 # deploy/rabbitmq/definitions.json,
                                                          # no secret in it (make definitions)
    python -m deploy.rabbitmq_definitions --with-passwords -o FILE
        # each broker user's password hash, derived from ILLFED_SECRET_KEY: what a cluster
        # loads at boot (compose does this in a one-shot job; on Kubernetes it goes into a
        # Secret, see deploy/k8s/README.md)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deploy.queues import federation_queues
from libs.common.federation import load_federation
from libs.common.messaging import broker_password
from libs.common.messaging.definitions import definitions
from libs.common.messaging.topology import broker_user, principals
from libs.common.settings import CommonSettings

DEFAULT_OUT = Path(__file__).resolve().parent / "rabbitmq" / "definitions.json"


def render(federation: str | None = None, vhost: str = "illfed", secret: str | None = None) -> str:
    fed = load_federation(federation)
    passwords = None
    if secret is not None:
        passwords = {broker_user(p): broker_password(secret, p) for p in principals(fed)}
    doc = definitions(fed, federation_queues(fed), vhost, passwords)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.rabbitmq_definitions")
    parser.add_argument("-o", "--out", default=str(DEFAULT_OUT))
    parser.add_argument("--federation", default=None)
    parser.add_argument("--vhost", default="illfed")
    parser.add_argument("--with-passwords", action="store_true")
    args = parser.parse_args(argv)
    secret = CommonSettings().secret_key if args.with_passwords else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(args.federation, args.vhost, secret))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
