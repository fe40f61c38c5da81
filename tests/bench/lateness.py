"""Figures the ingest benchmark computes from what it saw outside the daemon (pure functions).

Poll lateness of a feed, for a measured window [start, end] and its configured interval:

- each gap between two consecutive polls that ends inside the window is one sample,
  max(0, gap - interval); the poll before the window (if the server remembers it) opens
  the first gap;
- a feed still waiting at the window's end is one more sample, end - last poll - interval,
  when that is positive (the poll is overdue and has not happened);
- a feed with no poll before the window (the server keeps the last `HISTORY` request times
  of each feed; with fewer, none is missing) counts from `start`: its first poll is late
  by first - start - interval, and a feed never polled is late by end - start - interval.

So a daemon that stops polling shows as late, instead of showing few, small gaps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

HISTORY = 32  # request times feed_server.py keeps per feed


def feed_lateness(polls: Sequence[float], start: float, end: float, interval: float) -> list[float]:
    """Lateness samples (seconds) of one feed, given its request times (sorted, oldest first)."""
    before = [p for p in polls if p <= start]
    inside = [p for p in polls if start < p <= end]
    complete = len(polls) < HISTORY
    chain = before[-1:] or ([start] if complete else [])
    chain += inside
    if not chain:
        return []
    samples = [max(0.0, b - a - interval) for a, b in itertools.pairwise(chain)]
    overdue = end - chain[-1] - interval
    if overdue > 0:
        samples.append(overdue)
    return samples


def all_lateness(
    polls: Iterable[Sequence[float]], start: float, end: float, interval: float
) -> list[float]:
    return [s for feed in polls for s in feed_lateness(feed, start, end, interval)]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values; inf counts as a value."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latencies(
    changed: dict[tuple[int, int], float], arrived: dict[tuple[int, int], float]
) -> list[float]:
    """For each injected item (feed, version) -> change time: arrival - change, inf if never."""
    return [arrived[key] - t if key in arrived else math.inf for key, t in changed.items()]
