"""Every log line is one JSON object, including what libraries log through the standard
library with a traceback (aio-pika and aiormq while they reconnect)."""

from __future__ import annotations

import json
import logging

import structlog

from libs.common.logs import configure_logging


def test_a_library_traceback_is_one_json_line(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("catalog", "INFO")
        try:
            raise ConnectionResetError("broker went away")
        except ConnectionResetError:
            logging.getLogger("aiormq.connection").exception("Unexpected connection close")
        structlog.get_logger("illfed.bus").warning("broker connection lost", principal="catalog")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # each line parses on its own
    lib, ours = records
    assert lib["logger"] == "aiormq.connection" and lib["level"] == "error"
    assert lib["service"] == "catalog"
    assert "ConnectionResetError: broker went away" in lib["exception"]
    assert ours["event"] == "broker connection lost" and ours["service"] == "catalog"
