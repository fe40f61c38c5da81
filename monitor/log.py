"""Structured logging: one `event key=value` line per event on stdout (journald reads it).

Under systemd (`JOURNAL_STREAM` set) no timestamp is added, since journald adds its own.

No secret reaches a log line: values under secret-sounding keys are masked, and every
other value (the event, errors, rendered tracebacks, the repr of any object) passes
through `monitor.redact.redact`, which removes URL userinfo, credential-like query values
and the secrets configuration registered. Lines from libraries (httpx, APScheduler,
Apprise) go through it too, in the stdlib handler's formatter.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from monitor.redact import MASK, redact

_SECRET_KEYS = frozenset({"password", "secret", "token", "authorization"})
_SHOWN_AS_IS = (bool, int, float, type(None))


def _redact(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Mask secret-named values; redact every string, and any object whose repr (what the
    renderer prints) would show a credential."""
    for key, value in event_dict.items():
        if key.lower() in _SECRET_KEYS and value is not None:
            event_dict[key] = MASK
        elif isinstance(value, str):
            event_dict[key] = redact(value)
        elif not isinstance(value, _SHOWN_AS_IS):
            shown = repr(value)
            hidden = redact(shown)
            if hidden != shown:
                event_dict[key] = hidden
    return event_dict


class _RedactingFormatter(logging.Formatter):
    """The stdlib format (traceback included), then `redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog (and the stdlib root logger) once at start-up."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    out = stream if stream is not None else sys.stdout
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if not os.environ.get("JOURNAL_STREAM"):
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    processors += [
        structlog.processors.format_exc_info,
        _redact,  # after format_exc_info: the rendered traceback is a value like the others
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
    handler = logging.StreamHandler(out)
    handler.setFormatter(_RedactingFormatter("%(name)s %(message)s"))
    logging.basicConfig(level=max(numeric, logging.WARNING), handlers=[handler])


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A bound structlog logger; bind context (`feed=`, `channel=`) instead of formatting it."""
    log = structlog.get_logger(name)
    return log.bind(**initial) if initial else log
