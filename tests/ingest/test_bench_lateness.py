"""The ingest benchmark's lateness figures (tests/bench/lateness.py): a daemon that stops
polling must show as late, not drop out of the figures."""

import math

import pytest

from tests.bench.lateness import HISTORY, feed_lateness, latencies, percentile

CASES = [
    # polls, start, end, interval -> samples
    pytest.param([100, 160, 220], 150, 230, 60, [0.0, 0.0], id="on-time"),
    pytest.param([100, 175, 250], 150, 260, 60, [15.0, 15.0], id="each-gap-late-by-15s"),
    pytest.param([100], 150, 400, 60, [240.0], id="stopped-polling-is-overdue"),
    pytest.param([], 150, 400, 60, [190.0], id="never-polled"),
    pytest.param([200], 150, 400, 60, [0.0, 140.0], id="first-poll-in-window-then-stopped"),
    pytest.param([300], 150, 400, 60, [90.0, 40.0], id="first-poll-late-then-overdue"),
]


@pytest.mark.parametrize(("polls", "start", "end", "interval", "expected"), CASES)
def test_feed_lateness(
    polls: list[float], start: float, end: float, interval: float, expected: list[float]
) -> None:
    assert feed_lateness(polls, start, end, interval) == expected


def test_truncated_history_does_not_count_from_window_start() -> None:
    polls = [float(200 + 10 * i) for i in range(HISTORY)]  # the server forgot older polls
    assert feed_lateness(polls, 150, polls[-1], 10) == [0.0] * (HISTORY - 1)


def test_percentile_is_nearest_rank_and_counts_missing_items() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert math.isnan(percentile([], 95))
    lat = latencies({(1, 1): 10.0, (2, 1): 10.0}, {(1, 1): 25.0})
    assert lat == [15.0, math.inf]
    assert percentile(lat, 95) == math.inf
