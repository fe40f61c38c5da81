"""Polls feeds the way the service does (the schedule in the store, `monitor.poller`), for tests
that drive a Pipeline themselves."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from monitor.models import FeedConfig, PollingConfig, PollOutcome
from monitor.notices import Notices
from monitor.pipeline import FeedReport, Pipeline
from monitor.poller import Poller
from monitor.store import Store


async def poll_feeds(
    pipeline: Pipeline,
    feeds: Sequence[FeedConfig],
    *,
    notices: Notices | None = None,
    clock: Callable[[], float] = time.time,
) -> list[FeedReport]:
    """Poll `feeds` once each, one after the other (in order), and write what the polls did."""
    poller = Poller(
        pipeline.store,
        pipeline.db,
        pipeline,
        notices or Notices(pipeline.store, None, clock),
        feeds=feeds,
        polling=PollingConfig(),
        clock=clock,
    )
    await poller.sync()
    reports: list[FeedReport] = []
    for feed in feeds:
        reports += await poller.poll_all([feed.name])
    return reports


def record_failure(
    store: Store, name: str, url: str, *, error: str, now: float, next_check: float
) -> int:
    """Write one failed poll of `name` as the poller does; returns its failures in a row."""
    store.record_polls([PollOutcome(name, url, "failed", now, next_check, 300.0, error=error)])
    state = store.feed_state(name)
    assert state is not None
    return state.consecutive_failures
