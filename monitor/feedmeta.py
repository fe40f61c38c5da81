"""What a feed document says about itself: its declared language and how long it may be
cached. Both are written by strangers, so each is read from a bounded look at the value and
anything that does not read cleanly is None.

- A language is a BCP 47 tag cut to its first entry (`en-US, fr` -> "en-us"), lower case with
  "-" between subtags ("en_GB" -> "en-gb"): a primary subtag of 2-3 letters, then subtags of
  1-8 letters or digits, at most MAX_TAG_CHARS characters. "English", "x-klingon", "" -> None.
- The time to live is RSS `<ttl>` (minutes); else `sy:updatePeriod` (hourly, daily, weekly,
  monthly = 30 days, yearly = 365 days; daily when only a frequency is given) divided by
  `sy:updateFrequency` (1 when absent). A number must be plain decimal digits (`30`, `7.5`);
  zero, negative or anything else is None. At most MAX_TTL.
"""

from __future__ import annotations

import re

MAX_TAG_CHARS = 35  # RFC 5646's longest tag a reader is asked to support
MAX_TTL = 366 * 86400.0  # seconds; a longer hint is taken as this
_LOOK = 64  # characters of a value looked at: enough for any tag or number
_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")  # fullmatched; "-" ends each run: linear
_TAG_END = re.compile(r"[,;\s]")  # one class
_NUMBER = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")  # fullmatched, bounded
_PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}


def language_tag(value: object) -> str | None:
    """`value` as a lower-case language tag ("de", "en-gb"), or None if it is not one."""
    if not isinstance(value, str):
        return None
    tag = _TAG_END.split(value.strip()[:_LOOK], maxsplit=1)[0].replace("_", "-").lower()
    if len(tag) > MAX_TAG_CHARS or not _TAG.fullmatch(tag):
        return None
    return tag


def feed_ttl(ttl: object, period: object = None, frequency: object = None) -> float | None:
    """Seconds the feed may be cached, from RSS `<ttl>` (minutes), else from
    `sy:updatePeriod` / `sy:updateFrequency`; None when neither reads cleanly."""
    minutes = _positive(ttl)
    if minutes is not None:
        return min(minutes * 60.0, MAX_TTL)
    period = period.strip().lower()[:_LOOK] if isinstance(period, str) else ""
    given = isinstance(frequency, str) and frequency.strip() != ""
    if not period and not given:
        return None
    seconds = _PERIODS.get(period or "daily")
    times = _positive(frequency) if given else 1.0
    if seconds is None or times is None:
        return None
    return min(seconds / times, MAX_TTL)


def _positive(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    number = _NUMBER.fullmatch(value.strip()[:_LOOK])
    if number is None:
        return None
    result = float(number.group())
    return result if result > 0 else None
