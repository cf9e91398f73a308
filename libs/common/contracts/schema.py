"""Generate the AsyncAPI document (with a JSON Schema per message) for integrators.

python -m libs.common.contracts.schema docs/asyncapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from libs.common.contracts import Envelope
from libs.common.contracts.registry import all_contracts, kind_of
from libs.common.messaging.topology import DIRECT, EVENTS


def asyncapi() -> dict:
    """Every contract, with an example where the contract gives one, on the channel its kind
    says: events on the topic exchange keyed by type, commands on the addressed exchange."""
    messages: dict[str, dict] = {}
    by_kind: dict[str, list[str]] = {"event": [], "command": []}
    envelope = Envelope.model_json_schema()
    for (type_name, version), model in sorted(all_contracts().items()):
        key = f"{type_name}.v{version}"
        schema = model.model_json_schema()
        examples = schema.pop("examples", [])
        kind = kind_of(model)
        by_kind[kind].append(key)
        messages[key] = {
            "name": type_name,
            "title": f"{type_name} (version {version})",
            "summary": (model.__doc__ or "").strip().split("\n\n")[0],
            "contentType": "application/json",
            "tags": [{"name": kind}],
            "payload": {
                **envelope,
                "properties": {**envelope["properties"], "payload": schema},
            },
            "examples": [{"name": f"{type_name} example", "payload": e} for e in examples],
        }
    channels = {
        EVENTS: {
            "description": "Topic exchange of broadcast events; routing key = message type.",
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in by_kind["event"]},
        },
        DIRECT: {
            "description": "Exchange of commands, each addressed to one service or library; "
            "routing key = recipient (requests, notifier, circulation.<library>).",
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in by_kind["command"]},
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "illfed message contracts",
            "version": "1.0.0",
            "description": "Every message travels in the envelope; the sender must be "
            "the RabbitMQ user that publishes it (user_id is validated).",
        },
        "channels": channels,
        "components": {"messages": messages},
    }


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asyncapi(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
