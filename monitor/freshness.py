"""What a response says about when to ask again: its freshness lifetime and its Retry-After.

Pure functions over header values as the server sent them (strings, any junk) and the time
now, so a table test covers them. Every result is a number of seconds, or None when the
headers say nothing usable; nothing here raises.

- `freshness_lifetime` (RFC 9111 section 4.2.1): Cache-Control ``no-store`` or an unqualified
  ``no-cache`` give 0; else ``max-age`` (``s-maxage`` is for shared caches and ignored);
  else ``Expires`` minus ``Date`` (minus now when Date is missing or invalid), 0 for an
  Expires in the past. A max-age that is not a number, or an Expires that is not a date,
  gives None. At most `MAX_LIFETIME`.
- `retry_delay` (RFC 9110 section 10.2.3): delta-seconds, or an HTTP-date relative to the
  response's Date (else now); a time in the past gives 0; junk gives None. At most
  `MAX_RETRY_AFTER`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from email.utils import parsedate_tz

MAX_LIFETIME = 366 * 86400.0
MAX_RETRY_AFTER = 86400.0
_MAX_HEADER_CHARS = 4096  # longer Cache-Control values are read this far only
_MAX_DATE_CHARS = 64  # no valid HTTP-date is longer
_MAX_DIGITS = 12  # more digits than this is past every cap anyway


def freshness_lifetime(
    cache_control: Iterable[str], expires: str | None, date: str | None, now: float
) -> float | None:
    """Seconds the response stays fresh, from its Cache-Control, Expires and Date values."""
    max_age: str | None = None
    for name, value in _directives(cache_control):
        if name == "no-store" or (name == "no-cache" and value is None):
            return 0.0
        if name == "max-age" and max_age is None:
            max_age = value or ""
    if max_age is not None:
        seconds = _seconds(max_age)
        return None if seconds is None else min(seconds, MAX_LIFETIME)
    if expires is None:
        return None
    until = http_date(expires)
    if until is None:
        return None
    start = http_date(date) if date is not None else None
    return _clamp(until - (now if start is None else start), MAX_LIFETIME)


def retry_delay(retry_after: str | None, date: str | None, now: float) -> float | None:
    """Seconds a 429 or 503 asked us to wait, from its Retry-After and Date values."""
    if retry_after is None:
        return None
    text = retry_after.strip()
    negative = text.startswith("-")
    seconds = _seconds(text[1:] if negative else text)
    if seconds is not None:
        return 0.0 if negative else min(seconds, MAX_RETRY_AFTER)
    until = http_date(text)
    if until is None:
        return None
    start = http_date(date) if date is not None else None
    return _clamp(until - (now if start is None else start), MAX_RETRY_AFTER)


def http_date(text: str) -> float | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime; a zone other than GMT is honoured) as
    a POSIX timestamp, or None."""
    if len(text) > _MAX_DATE_CHARS:
        return None
    try:
        parts = parsedate_tz(text)
        if parts is None:
            return None
        _, _, day, hour, minute, second = parts[:6]
        if not (1 <= day <= 31 and 0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 60):
            return None  # timegm would roll "99 Nov" over into February
        return float(calendar.timegm(parts[:9]) - (parts[9] or 0))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def _clamp(seconds: float, cap: float) -> float:
    return min(max(seconds, 0.0), cap)


def _seconds(text: str) -> float | None:
    """Non-negative whole seconds written as digits (optionally quoted), or None."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not (text.isascii() and text.isdigit()):
        return None
    return float(int(text)) if len(text) <= _MAX_DIGITS else float("inf")


def _directives(values: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(name in lower case, value or None) of each Cache-Control directive; commas inside a
    quoted value do not split it."""
    for header in values:
        text = header[:_MAX_HEADER_CHARS]
        start, quoted = 0, False
        for i, char in enumerate(text + ","):
            if char == '"':
                quoted = not quoted
            elif char == "," and not quoted:
                name, eq, value = text[start:i].partition("=")
                start = i + 1
                name = name.strip().lower()
                if name:
                    yield name, value.strip() if eq else None
