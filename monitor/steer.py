"""Operators steering a running service from the command line: a rule muted for a while, a
channel paused and resumed, pending alerts sent now. The state lives in the database, so every
daemon on it obeys at once (muting at its next recorded item, a pause at its next send)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from monitor.config import parse_duration
from monitor.errors import MonitorError
from monitor.suggest import unknown_name

MAX_MUTE = 366 * 86400.0  # a mute longer than a year is a rule to remove


class SteeringError(MonitorError):
    """A steering command that cannot be carried out as given (nothing was changed)."""


def mute_until(*, for_: str | None, until: str | None, now: float) -> float:
    """When a mute given as `--for 2h` or `--until 2026-12-01T07:00` (ISO 8601; UTC unless it
    says otherwise) ends."""
    if (for_ is None) == (until is None):
        raise SteeringError("give --for DURATION or --until TIME")
    if for_ is not None:
        try:
            return now + parse_duration(for_, limit=MAX_MUTE)
        except ValueError as e:
            raise SteeringError(f"--for: {e}") from None
    assert until is not None
    try:
        when = datetime.fromisoformat(until)
    except ValueError:
        raise SteeringError(
            f"--until: {until!r} is not a time; write it as 2026-12-01T07:00 (UTC)"
            " or with its offset, 2026-12-01T08:00+01:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    end = when.timestamp()
    if end <= now:
        raise SteeringError(f"--until: {until} is already past")
    if end - now > MAX_MUTE:
        raise SteeringError("--until: more than a year away; remove the rule instead")
    return end


def known(kind: str, name: str, names: Iterable[str]) -> None:
    """Refuse a rule or channel the configuration does not have, with the closest names."""
    names = list(names)
    if name not in names:
        raise SteeringError(unknown_name(kind, name, names))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="minutes")
