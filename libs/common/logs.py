"""Structured JSON logs (structlog) carrying the correlation id of the work at hand."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    bind_contextvars(service=service)


def bind_correlation(correlation_id: str | None) -> None:
    """Every log line from here on (in this task) carries the correlation id."""
    if correlation_id:
        bind_contextvars(correlation_id=correlation_id)


def reset_request_context(service: str) -> None:
    clear_contextvars()
    bind_contextvars(service=service)
