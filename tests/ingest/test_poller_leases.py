"""A poller polls a feed only while its claim surely holds: a claim whose lease ran out while it
waited for its host is handed back unfetched, one the heartbeat renewed in time is polled, and
an outcome is never written over the claim of a daemon that took the feed over.

Real store (every backend), a real news site on 127.0.0.1; the poller's clock is moved on by
hand, so a lease of 30 s runs out without waiting 30 s. Two "daemons" are two stores on the
same database.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from structlog.testing import capture_logs

from monitor.fetch import Fetcher
from monitor.models import FeedConfig, PollingConfig
from monitor.notices import Notices
from monitor.pipeline import Pipeline, Rules
from monitor.poller import Poller
from monitor.store import DaemonInfo, Store, open_store
from monitor.workers import CpuPool
from tests.support.site import NewsSite, Resource, rss_feed

LEASE = 30.0
POLLING = PollingConfig(max_polls=10, per_host=1, lease=LEASE)


class Clock:
    """The time, moved on by `skip` seconds at will."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += seconds


@asynccontextmanager
async def poller_on(
    store: Store, feeds: Sequence[FeedConfig], clock: Callable[[], float]
) -> AsyncIterator[Poller]:
    fetcher = Fetcher()
    pool = CpuPool(1)
    await pool.start()
    pipeline = Pipeline(store, fetcher, Rules({}), pool, clock=clock)
    poller = Poller(
        store,
        pipeline.db,
        pipeline,
        Notices(store, None, clock),
        feeds=feeds,
        polling=POLLING,
        clock=clock,
        owner=f"{socket.gethostname()}:A",
    )
    await poller.sync()
    try:
        yield poller
    finally:
        await poller.stop()
        await pool.close()
        await fetcher.aclose()


@dataclass
class Busy:
    site: NewsSite
    poller: Poller
    due: dict[str, float]  # when each feed was due
    answer: threading.Event  # set: the site answers Slow's request


@asynccontextmanager
async def one_host_busy(store: Store, clock: Clock) -> AsyncIterator[Busy]:
    """Two feeds of one host (one request at a time to it), both claimed: "Slow" has the host,
    "Late" waits for it. Yields once Slow's request is in; the site holds its answer until the
    test sets `answer`. On leaving, the polls have finished and their outcomes are written.

    The two are polled as `run --once` polls (`poll_all`): the same claim, wait and poll as
    the claim loop's, without the loop claiming again at once a feed that was handed back."""
    answer = threading.Event()

    def slow() -> Iterator[bytes]:
        answer.wait(10)
        yield b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/rss+xml\r\n"
        yield f"Content-Length: {len(EMPTY)}\r\n\r\n".encode() + EMPTY

    with NewsSite() as site:
        feeds = [
            feed("Slow", site.put("/slow.xml", Resource(b"", RSS, raw=slow))),
            feed("Late", site.add_feed("/late.xml", EMPTY)),
        ]
        async with poller_on(store, feeds, clock) as poller:
            due = {"Slow": clock() - 1, "Late": clock()}  # Slow first: it takes the host
            for name, at in due.items():
                store._query("UPDATE feeds SET next_check = ? WHERE name = ?", (at, name))
            polls = asyncio.create_task(poller.poll_all(list(due)))
            try:
                await until(lambda: bool(site.requests_for("/slow.xml")))
                yield Busy(site, poller, due, answer)
            finally:
                answer.set()
                await asyncio.wait_for(polls, 10)


EMPTY = rss_feed("Empty", [])
RSS = "application/rss+xml"


def feed(name: str, url: str) -> FeedConfig:
    return FeedConfig(name=name, url=url, interval=300, timeout=5, extract=False)


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "not within the time limit"
        await asyncio.sleep(0.02)


def row(store: Store, name: str) -> tuple[Any, ...]:
    """claimed_by, next_check, polls, last_status of one feed."""
    (found,) = store._query(
        "SELECT claimed_by, next_check, polls, last_status FROM feeds WHERE name = ?", (name,)
    )
    return tuple(found)


def events(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


async def beat(poller: Poller, store: Store, clock: Clock) -> None:
    """The daemon's heartbeat, as `Service._beat` does it."""
    me = DaemonInfo(poller.owner, socket.gethostname(), os.getpid(), "0.1.0", "cfg")
    at = clock()
    renewal = await poller.db.call(store.heartbeat, me, now=at, lease=LEASE)
    poller.renewed(renewal.feeds, at + LEASE)


def test_a_claim_run_out_while_waiting_for_its_host_is_not_fetched_and_is_due_again(
    store: Store,
) -> None:
    clock = Clock()

    async def main() -> tuple[NewsSite, dict[str, float]]:
        async with one_host_busy(store, clock) as busy:
            clock.skip(LEASE + 1)  # this daemon stalled past the lease while Late waited
        return busy.site, busy.due

    with capture_logs() as logs:
        site, due = asyncio.run(main())
    assert site.requests_for("/late.xml") == []
    assert [e["feed"] for e in events(logs, "claim_expired")] == ["Late"]
    assert row(store, "Late") == (None, due["Late"], 0, None)  # handed back, due as it was
    assert [c.name for c in store.claim_due(clock(), 10, "B", lease=LEASE)] == ["Late"]
    assert row(store, "Slow")[2:] == (1, "ok")  # its turn came in time: polled as usual


def test_feeds_another_daemon_took_over_stay_its_own_and_late_outcomes_are_dropped(
    store: Store, db_url: str
) -> None:
    clock = Clock()
    other = open_store(db_url)

    async def main() -> NewsSite:
        async with one_host_busy(store, clock) as busy:
            clock.skip(LEASE + 1)  # stalled past the lease: daemon B takes both over
            taken = other.claim_due(clock(), 10, "B", lease=LEASE, names=["Late", "Slow"])
            assert sorted(c.name for c in taken) == ["Late", "Slow"]
        return busy.site

    try:
        with capture_logs() as logs:
            site = asyncio.run(main())
    finally:
        other.close()
    assert site.requests_for("/late.xml") == []
    assert [e["feed"] for e in events(logs, "claim_expired")] == ["Late"]
    # Slow's poll (already under way) and Late's hand-back: neither written over B's claim
    dropped = events(logs, "poll_outcomes_dropped")
    assert sum(e["outcomes"] for e in dropped) == 2
    assert {e["log_level"] for e in dropped} == {"warning"}
    assert [row(store, n)[0] for n in ("Late", "Slow")] == ["B", "B"]
    assert [row(store, n)[2] for n in ("Late", "Slow")] == [0, 0]


def test_a_claim_the_heartbeat_renewed_in_time_is_polled(store: Store) -> None:
    clock = Clock()

    async def main() -> NewsSite:
        async with one_host_busy(store, clock) as busy:
            clock.skip(LEASE - 10)
            await beat(busy.poller, store, clock)  # renewed to 30 s from now
            clock.skip(11)  # past the first lease, well within the renewed one
        return busy.site

    with capture_logs() as logs:
        site = asyncio.run(main())
    assert len(site.requests_for("/late.xml")) == 1
    assert events(logs, "claim_expired") == []
    assert row(store, "Late")[0::2] == (None, 1)
    assert row(store, "Late")[3] == "ok"


def test_a_claim_the_heartbeat_passed_over_is_not_counted_as_renewed(pg_url: str) -> None:
    """PostgreSQL: Late's row is being written by another transaction (another daemon's sync)
    when the heartbeat comes; the heartbeat passes it over, so its claim ends with its first
    lease, and the poller must not poll it after that. (SQLite runs one write at a time: a
    heartbeat there never passes a row over.)"""
    clock = Clock()
    store = open_store(pg_url)

    async def main() -> NewsSite:
        async with one_host_busy(store, clock) as busy:
            clock.skip(LEASE - 10)
            with psycopg.connect(pg_url) as sync, sync.transaction():
                sync.execute("UPDATE feeds SET interval = interval WHERE name = 'Late'")
                await beat(busy.poller, store, clock)
            clock.skip(11)
        return busy.site

    try:
        with capture_logs() as logs:
            site = asyncio.run(main())
        assert site.requests_for("/late.xml") == []
        assert [e["feed"] for e in events(logs, "claim_expired")] == ["Late"]
        assert row(store, "Late")[0::2] == (None, 0)
        assert row(store, "Slow")[2:] == (1, "ok")  # renewed by the same beat: polled
    finally:
        store.close()
