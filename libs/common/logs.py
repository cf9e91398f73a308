"""Structured JSON logs (structlog) carrying the correlation id of the work at hand.

Libraries that log through the standard library (aio-pika and aiormq while they reconnect,
uvicorn, asyncio's "exception was never retrieved") go through the same JSON renderer, so a
traceback is one JSON line with an ``exception`` field, never raw text between the lines."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars


def configure_logging(service: str, level: str = "INFO") -> None:
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    bind_contextvars(service=service)


def bind_correlation(correlation_id: str | None) -> None:
    """Every log line from here on (in this task) carries the correlation id."""
    if correlation_id:
        bind_contextvars(correlation_id=correlation_id)


def reset_request_context(service: str) -> None:
    clear_contextvars()
    bind_contextvars(service=service)
