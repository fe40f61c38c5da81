"""When to try a failed delivery again.

The outbox worker calls `next_delay` after every failed send. The schedule is
5 s, 30 s, 2 min, 10 min, 30 min, 1 h and then hourly, each with ±10 % jitter so that
many alerts failing together do not retry together. A receiver's `Retry-After` is honoured
(we never retry earlier than asked). Retrying stops after 24 h or at a permanent error.
"""

from __future__ import annotations

import random

from monitor.errors import DeliveryError

SCHEDULE: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
JITTER = 0.10
GIVE_UP_AFTER = 24 * 3600.0


def nominal_delay(attempt: int) -> float:
    """The delay after `attempt` failed attempts (below 1 counts as 1), without jitter."""
    return SCHEDULE[min(max(attempt, 1), len(SCHEDULE)) - 1]


def next_delay(
    attempt: int,
    error: DeliveryError | None,
    *,
    rng: random.Random | None = None,
    first_attempt_age: float | None = None,
) -> float | None:
    """Seconds to wait before the next try, or None to give up.

    `attempt` counts the failed attempts so far (1 after the first failure; 0 is taken as
    1, so a counter read before it was incremented still works). `error` is the
    failure (None: an unclassified failure, treated as retryable). `first_attempt_age` is
    how many seconds ago the first attempt was made; when omitted, the time spent is taken
    to be the sum of the nominal schedule so far, which ignores Retry-After and worker lag,
    so pass it when known.
    """
    if error is not None and error.permanent:
        return None
    base = nominal_delay(attempt)
    delay = base * (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    if error is not None and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    if first_attempt_age is None:
        first_attempt_age = sum(nominal_delay(n) for n in range(1, attempt))
    if first_attempt_age + delay > GIVE_UP_AFTER:
        return None
    return delay
