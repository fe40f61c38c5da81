"""Structured logging: one `event key=value` line per event on stdout (journald reads it).

Under systemd (`JOURNAL_STREAM` set) no timestamp is added, since journald adds its own.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_SECRET_KEYS = frozenset({"password", "secret", "token", "authorization"})


def _redact(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    for key in event_dict:
        if key.lower() in _SECRET_KEYS and event_dict[key] is not None:
            event_dict[key] = "<redacted>"
    return event_dict


def setup_logging(level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog (and the stdlib root logger) once at start-up."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    out = stream if stream is not None else sys.stdout
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _redact,
    ]
    if not os.environ.get("JOURNAL_STREAM"):
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    processors += [
        structlog.processors.format_exc_info,
        structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event", "feed", "item", "rule", "channel"],
            drop_missing=True,
        ),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=out, format="%(name)s %(message)s"
    )


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A bound structlog logger; bind context (`feed=`, `channel=`) instead of formatting it."""
    log = structlog.get_logger(name)
    return log.bind(**initial) if initial else log
