"""The retry schedule the outbox worker follows after a failed send."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.deliver.retry import GIVE_UP_AFTER, next_delay, nominal_delay
from monitor.errors import DeliveryError

RETRYABLE = DeliveryError("HTTP 500", "hook")
PERMANENT = DeliveryError("HTTP 400", "hook", permanent=True)


@pytest.mark.parametrize(
    ("attempt", "seconds"),
    [(1, 5), (2, 30), (3, 120), (4, 600), (5, 1800), (6, 3600), (7, 3600), (20, 3600)],
)
def test_schedule_with_jitter(attempt: int, seconds: float) -> None:
    assert nominal_delay(attempt) == seconds
    delays = [
        next_delay(attempt, RETRYABLE, rng=random.Random(seed), first_attempt_age=0)
        for seed in range(50)
    ]
    assert all(d is not None and 0.9 * seconds <= d <= 1.1 * seconds for d in delays)
    assert len(set(delays)) > 1  # jittered, not constant


def test_unclassified_failure_is_retried() -> None:
    assert next_delay(1, None, rng=random.Random(1)) is not None


def test_permanent_error_is_never_retried() -> None:
    assert next_delay(1, PERMANENT) is None


def test_retry_after_is_never_undercut() -> None:
    asked = DeliveryError("HTTP 429", "hook", retry_after=900)
    assert next_delay(1, asked, rng=random.Random(1)) == 900
    short = DeliveryError("HTTP 429", "hook", retry_after=1)
    delay = next_delay(3, short, rng=random.Random(1))
    assert delay is not None and delay >= 0.9 * 120


def test_gives_up_after_a_day() -> None:
    assert next_delay(10, RETRYABLE, first_attempt_age=GIVE_UP_AFTER - 60) is None
    assert next_delay(10, RETRYABLE, first_attempt_age=3600) is not None


def test_default_schedule_stops_within_a_day() -> None:
    rng = random.Random(7)
    elapsed, attempt = 0.0, 1
    while (delay := next_delay(attempt, RETRYABLE, rng=rng)) is not None:
        elapsed += delay
        attempt += 1
    assert elapsed <= GIVE_UP_AFTER * 1.1
    assert 20 <= attempt <= 30  # 6 ramp-up retries, then about hourly for the rest of the day


def test_attempt_zero_counts_as_the_first_failure() -> None:
    assert nominal_delay(0) == nominal_delay(1) == 5


@given(
    attempt=st.integers(1, 200),
    retry_after=st.none() | st.floats(0, 10 * GIVE_UP_AFTER),
    age=st.floats(0, 2 * GIVE_UP_AFTER),
    seed=st.integers(0, 2**32),
)
def test_delay_is_bounded(attempt: int, retry_after: float | None, age: float, seed: int) -> None:
    error = DeliveryError("x", "c", retry_after=retry_after)
    delay = next_delay(attempt, error, rng=random.Random(seed), first_attempt_age=age)
    if delay is None:
        return
    assert age + delay <= GIVE_UP_AFTER
    assert delay >= 0.9 * nominal_delay(attempt)
    assert retry_after is None or delay >= retry_after
