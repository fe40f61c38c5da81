"""When a feed is polled next: spread, adaptive and polite, in pure functions.

- First polls are spread by a hash of each feed's name (`first_due`) at a bounded rate, over
  up to one interval: 10,000 feeds added at once are polled evenly across their interval,
  never in one burst, and keep those phases; a restart resumes from the stored due times.
- After a poll the next one keeps the feed's phase (`due + interval`), so a poll that
  started late does not push every later poll back.
- The interval adapts to what the server says (`Cache-Control: max-age`, `Expires`, RSS
  `<ttl>` or `sy:updatePeriod`), always within the feed's `min_interval` and `max_interval`.
- A failing feed backs off, doubling per failure up to `MAX_BACKOFF` (24 h); it is never
  dropped. A 429 or 503 with `Retry-After` pauses its host for that long (at most a day).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from urllib.parse import urlsplit

from monitor.models import FeedConfig, FeedSlot

MAX_BACKOFF = 24 * 3600.0
MAX_PAUSE = 24 * 3600.0  # the longest Retry-After honoured
FIRST_POLLS_PER_SECOND = 20.0  # new feeds' first polls are spread out to about this rate


def host_of(url: str) -> str:
    """The host polls are counted against (lower case; "" when the URL has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def phase(name: str) -> float:
    """A fraction in [0, 1) fixed by the feed's name: where in its interval it is polled."""
    digest = hashlib.sha256(name.encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def slot(feed: FeedConfig) -> FeedSlot:
    low, high = feed.interval_bounds
    return FeedSlot(
        name=feed.name,
        url=feed.url,
        host=host_of(feed.url),
        interval=min(max(feed.interval, low), high),
        min_interval=low,
        max_interval=high,
    )


def first_due(now: float) -> Callable[[FeedSlot, int], float]:
    """`sync_feeds`' due time for a feed new to the schedule, when `count` feeds are placed at
    once: spread at `FIRST_POLLS_PER_SECOND` over up to one interval. 10,000 new feeds of 5
    minutes are spread over the whole 5 minutes; one new feed is polled within a second."""

    def due(s: FeedSlot, count: int) -> float:
        window = min(s.interval, max(1.0, count / FIRST_POLLS_PER_SECOND))
        return now + phase(s.name) * window

    return due


def adapted_interval(feed: FeedConfig, hints: tuple[float | None, ...]) -> float:
    """The interval to poll at: the longest hint the server gave (else the configured
    interval), held within the feed's bounds."""
    low, high = feed.interval_bounds
    given = [h for h in hints if h is not None]
    wanted = max(given) if given else feed.interval
    return min(max(wanted, low), high)


def next_after_success(due: float, started: float, interval: float) -> float:
    """Keep the phase: one interval after the time it was due, unless that has passed."""
    following = due + interval
    return following if following > started else started + interval


def failure_backoff(interval: float, failures: int, rng: random.Random | None = None) -> float:
    """Delay before polling a failing feed again: the interval doubled per failure, up to a
    day, with 10% jitter so that feeds failing together do not retry together."""
    r = rng or random
    delay = min(MAX_BACKOFF, interval * (2 ** min(failures - 1, 20)))
    return float(min(MAX_BACKOFF, max(interval, delay)) * (0.9 + 0.1 * r.random()))
