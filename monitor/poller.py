"""Which feeds are polled when, and how many at once: the claim loop over the schedule.

The schedule lives in the database (each feed's row: when it is due, its effective interval,
validators, failures, health; see `FeedStore.sync_feeds`, `FeedStore.claim_due`). A claim takes due
feeds in batches, earliest first, under a lease, so another process sharing the database
(PostgreSQL) or this one after a crash never polls a feed twice at once. APScheduler only
ticks the claim (`Service`); finishing polls claim again at once while feeds are waiting.

Concurrency is bounded and fair: at most `max_polls` polls in flight in all, and at most
`per_host` feed requests to one host at a time (the host's slot is given back once the
response is in, while the document is parsed and its items read). A claimed feed waits for
its slots before its request starts, so the wait never counts toward the request's deadline
or the feed's failures: a feed due while the
pool is full is polled late, not failed, and its lateness (start - due) is stored in its row,
logged with the poll and shown by `monitor status`. At most `QUEUE_PER_SLOT * max_polls`
feeds wait claimed at once, and one claim takes at most `HOST_QUEUE` of one host (none of a
host with more than half that waiting), so a slow host never holds the queue against the
others; a host that answered 429/503 with Retry-After is not claimed
from until its pause ends.

What each poll leaves in its row is written in batches (`record_polls`: one transaction for
up to `FLUSH_BATCH` polls or every `FLUSH_DELAY` s), so 300 polls a second do not cost 300
commits. Items are recorded by the pipeline as each finishes, before that.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from monitor.cadence import (
    MAX_BACKOFF,
    MAX_PAUSE,
    adapted_interval,
    failure_backoff,
    first_due,
    next_after_success,
    slot,
)
from monitor.errors import StorageError
from monitor.log import get_logger
from monitor.metrics import Metrics
from monitor.models import Claim, FeedConfig, PollingConfig, PollOutcome
from monitor.notices import Notices
from monitor.pipeline import BACKLOG_DELAY, FeedReport, Pipeline, Turn, describe
from monitor.store import FeedStore, StoreThread

log = get_logger("monitor.poller")

LEASE_HINT = (
    "this daemon held feeds past their lease (stalled, or the database was slow): another"
    " daemon polled them too; a longer polling.lease avoids it"
)

QUEUE_PER_SLOT = 4  # feeds claimed and waiting, per slot of max_polls
HOST_QUEUE = 32  # feeds of one host claimed and waiting at most
FLUSH_BATCH = 200
FLUSH_DELAY = 0.5
CLAIM_GAP = 0.05  # seconds between claims made by finishing polls
LEASE_MARGIN = 0.5  # seconds: a claim this close to running out is handed back, not polled
NAMES_PER_CLAIM = 500


class _HostTurn(Turn):
    """A slot for the feed's host while its request runs, and one of the pool's for the whole
    poll. The host's slot is taken first, so a poll waiting for a busy host holds no pool
    slot that another host's feed could use. The poller waits for both (`wait`) before the
    pipeline enters the turn, so that it can check its claim once its turn has come."""

    def __init__(self, host: asyncio.Semaphore, pool: asyncio.Semaphore) -> None:
        self._host = host
        self._pool = pool
        self._holding_host = False
        self._holding_pool = False

    async def wait(self) -> None:
        await self._host.acquire()
        try:
            await self._pool.acquire()
        except BaseException:
            self._host.release()
            raise
        self._holding_host = self._holding_pool = True

    async def __aenter__(self) -> _HostTurn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def request_done(self) -> None:
        if self._holding_host:
            self._holding_host = False
            self._host.release()

    def release(self) -> None:
        self.request_done()
        if self._holding_pool:
            self._holding_pool = False
            self._pool.release()


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Poller:
    def __init__(
        self,
        store: FeedStore,
        db: StoreThread,
        pipeline: Pipeline,
        notices: Notices,
        *,
        feeds: Sequence[FeedConfig],
        polling: PollingConfig,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.db = db
        self.pipeline = pipeline
        self.notices = notices
        self.clock = clock
        self.owner = owner or owner_id()
        self._feeds: dict[str, FeedConfig] = {}
        self.polling = polling
        self._slots = asyncio.Semaphore(polling.max_polls)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()  # claimed and not finished, per host
        self._tasks: set[asyncio.Task[FeedReport | None]] = set()
        self._helpers: set[asyncio.Future[object]] = set()  # claims and flushes under way
        self._pending: list[PollOutcome] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._paused: dict[str, float] = {}  # host -> until when (Retry-After)
        self._claiming = False
        self._claim_timer: asyncio.TimerHandle | None = None  # a claim soon, for finished polls
        self._more = False  # the last claim found feeds: more may be due
        self._last_claim = 0.0
        self._held: dict[str, float] = {}  # feed claimed -> until when it is surely ours
        self._stopped = False
        self.set_feeds(feeds)

    # ------------------------------------------------------------------ configuration

    def set_feeds(self, feeds: Sequence[FeedConfig]) -> None:
        self._feeds = {f.name: f for f in feeds if f.enabled}

    def configure(self, feeds: Sequence[FeedConfig], polling: PollingConfig) -> None:
        """New feeds and limits (a reload); polls in flight finish under the old limits."""
        self.set_feeds(feeds)
        if polling != self.polling:
            self.polling = polling
            self._slots = asyncio.Semaphore(polling.max_polls)
            self._hosts = {}

    async def sync(self) -> int:
        """Bring the schedule in the database in line with the feeds configured."""
        now = self.clock()
        slots = [slot(f) for f in self._feeds.values()]
        added = await self.db.call(self.store.sync_feeds, slots, now=now, first_due=first_due(now))
        log.info("schedule_synced", feeds=len(slots), added=added)
        return added

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------------ claiming

    async def claim(self) -> int:
        """Claim the feeds due now, as many as the queue has room for, and start them."""
        if self._claiming or self._stopped:
            return 0
        self._claiming = True
        try:
            now = self.clock()
            self._last_claim = now
            self.metrics.health.claimed()
            room = QUEUE_PER_SLOT * self.polling.max_polls - len(self._tasks)
            if room <= 0:
                self._more = True
                return 0
            for host, until in list(self._paused.items()):
                if until <= now:
                    del self._paused[host]
            busy = [h for h, n in self._waiting.items() if n > HOST_QUEUE // 2]
            try:
                claims = await self.db.call(
                    self.store.claim_due,
                    now,
                    room,
                    self.owner,
                    lease=self.polling.lease,
                    per_host=HOST_QUEUE,
                    skip_hosts=sorted({*busy, *self._paused}),
                )
            except StorageError as e:
                log.error("storage_failed", error=describe(e))
                return 0
            # more may be due: claim again as polls finish (`_done`), not only at the tick
            self._more = bool(claims) or bool(busy)
            for c in claims:
                self._held[c.name] = now + self.polling.lease
                self._start(c)
            return len(claims)
        finally:
            self._claiming = False

    async def poll_all(self, names: Sequence[str] | None = None) -> list[FeedReport]:
        """Poll every configured feed (or those of `names`, in that order) once, due or not,
        wait for all, and write their outcomes (``run --once``)."""
        wanted = sorted(self._feeds) if names is None else [n for n in names if n in self._feeds]
        tasks: dict[str, asyncio.Task[FeedReport | None]] = {}
        for start in range(0, len(wanted), NAMES_PER_CLAIM):
            chunk = wanted[start : start + NAMES_PER_CLAIM]
            now = self.clock()
            claims = await self.db.call(
                self.store.claim_due,
                now,
                len(chunk),
                self.owner,
                lease=self.polling.lease,
                names=chunk,
            )
            for c in claims:
                self._held[c.name] = now + self.polling.lease
                tasks[c.name] = self._start(c)
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await self.flush()
        reports = []
        for name in wanted:
            task = tasks.get(name)
            if task is not None and not task.cancelled() and task.exception() is None:
                report = task.result()
                if report is not None:
                    reports.append(report)
        return reports

    def _start(self, claim: Claim) -> asyncio.Task[FeedReport | None]:
        self._waiting[claim.host] += 1
        task = asyncio.create_task(self._run(claim), name=f"poll:{claim.name}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, claim))
        return task

    def renewed(self, feeds: Collection[str], until: float) -> None:
        """The daemon's heartbeat renewed the claims of `feeds` to `until` (what
        `DaemonStore.heartbeat` returned). A claim it passed over (its row being written just
        then, or already run out) is surely held no longer than before."""
        for name in feeds:
            held = self._held.get(name)
            if held is not None:
                self._held[name] = max(held, until)

    def _done(self, task: asyncio.Task[FeedReport | None], claim: Claim) -> None:
        self._held.pop(claim.name, None)
        self._tasks.discard(task)
        self._waiting[claim.host] -= 1
        if self._waiting[claim.host] <= 0:
            del self._waiting[claim.host]
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("poll_crashed", feed=claim.name, error=describe(error))
        if not self._more or self._claim_timer is not None or self._stopped:
            return
        room = QUEUE_PER_SLOT * self.polling.max_polls
        if self._waiting.get(claim.host, 0) <= HOST_QUEUE // 2 or len(self._tasks) <= room // 2:
            wait = max(0.0, self._last_claim + CLAIM_GAP - self.clock())
            self._claim_timer = asyncio.get_running_loop().call_later(wait, self._claim_now)

    def _claim_now(self) -> None:
        self._claim_timer = None
        self._spawn(self.claim())

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    # ------------------------------------------------------------------ one poll

    async def _run(self, claim: Claim) -> FeedReport | None:
        feed = self._feeds.get(claim.name)
        if feed is None:  # removed from feeds.yaml since it was claimed
            now = self.clock()
            self._record(
                PollOutcome(claim.name, claim.url, "postponed", now, claim.due, claim.interval)
            )
            return None
        gate = self._hosts.get(claim.host)
        if gate is None:
            gate = self._hosts[claim.host] = asyncio.Semaphore(self.polling.per_host)
        turn = _HostTurn(gate, self._slots)
        await turn.wait()
        try:
            now = self.clock()
            if now > self._held.get(claim.name, now + LEASE_MARGIN) - LEASE_MARGIN:
                # its lease may have run out while it waited (this daemon stalled): another
                # daemon may poll it now. Handed back, due as it was, unless another has it.
                log.warning("claim_expired", feed=claim.name, waited=round(now - claim.due, 1))
                self._record(
                    PollOutcome(claim.name, claim.url, "postponed", now, claim.due, claim.interval)
                )
                return None
            report = await self.pipeline.poll_feed(feed, claim, turn)
        finally:
            turn.release()
        self.metrics.polled(report.status, new=report.new, late=report.late)
        self._record(self._outcome(feed, claim, report))
        await self._tell(feed, claim, report)
        return report

    def _outcome(self, feed: FeedConfig, claim: Claim, report: FeedReport) -> PollOutcome:
        now = self.clock()
        started = report.started or now
        interval = claim.interval or feed.interval
        base = PollOutcome(
            name=feed.name,
            url=feed.url,
            status=report.status,
            started=started,
            next_check=now,  # each outcome below says when
            interval=interval,
            lateness=report.late,
            error=report.error,
            moved_to=report.moved_to,
        )
        if report.status in ("ok", "not_modified", "unchanged"):
            # no document read (304, unchanged): the <ttl> of the last one still holds
            ttl = report.ttl if report.status == "ok" else claim.ttl
            interval = adapted_interval(feed, (report.max_age, ttl))
            backlog = report.deferred > 0
            following = (
                now + BACKLOG_DELAY if backlog else next_after_success(claim.due, started, interval)
            )
            return replace(
                base,
                next_check=following,
                interval=interval,
                etag=report.etag,
                last_modified=report.last_modified,
                keep_validators=not backlog,
                body_hash=report.body_hash,
                new_items=report.new - report.old,
                ttl=report.ttl,
            )
        if report.status == "rate_limited":
            pause = min(MAX_PAUSE, report.retry_after or 0.0)
            self._paused[claim.host] = max(self._paused.get(claim.host, 0.0), now + pause)
            log.warning("host_paused", host=claim.host, seconds=pause, feed=feed.name)
            return replace(base, next_check=now + pause)
        if report.status == "gone":
            return replace(base, next_check=now + MAX_BACKOFF)
        return replace(base, next_check=now + failure_backoff(interval, claim.failures + 1))

    async def _tell(self, feed: FeedConfig, claim: Claim, report: FeedReport) -> None:
        """The operator's notices: a feed failing, working again, moved or gone."""
        try:
            if report.status == "failed":
                await self.db.call(self.notices.feed_failed, feed.name, report.error or "failed")
            elif claim.failures and report.status in ("ok", "not_modified", "unchanged"):
                log.info("feed_recovered", feed=feed.name, failures=claim.failures)
                await self.db.call(self.notices.feed_ok, feed.name)
            if report.moved_to:
                log.warning(
                    "feed_moved",
                    feed=feed.name,
                    url=report.moved_to,
                    hint="update its url in feeds.yaml",
                )
                await self.db.call(
                    self.notices.once,
                    f"feed-moved:{feed.name}:{report.moved_to}",
                    f"Feed {feed.name!r} moved permanently to {report.moved_to}; it is polled"
                    " there now: update its url in feeds.yaml",
                )
            if report.status == "gone":
                await self.db.call(
                    self.notices.once,
                    f"feed-gone:{feed.name}:{claim.poll_url}",
                    f"Feed {feed.name!r} is gone (HTTP 410) and is no longer polled: remove it"
                    " from feeds.yaml, or give it a new url",
                )
        except StorageError as e:
            log.error("storage_failed", feed=feed.name, error=describe(e))

    # ------------------------------------------------------------------ writing outcomes

    def _record(self, outcome: PollOutcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= FLUSH_BATCH:
            self._spawn(self.flush())
        elif self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(FLUSH_DELAY, lambda: self._spawn(self.flush()))

    async def flush(self) -> None:
        """Write the outcomes waiting; on a database failure they wait for the next flush."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            written = await self.db.call(self.store.record_polls, batch, owner=self.owner)
        except StorageError as e:
            log.error("storage_failed", polls=len(batch), error=describe(e))
            self._pending = batch + self._pending
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(FLUSH_DELAY * 10, lambda: self._spawn(self.flush()))
            return
        if written < len(batch):  # the lease ran out first, and another daemon has the feed
            log.warning("poll_outcomes_dropped", outcomes=len(batch) - written, hint=LEASE_HINT)

    async def stop(self) -> None:
        """Stop claiming, cancel the polls in flight (what they recorded stays; their feeds
        are polled again after a restart) and write the outcomes of those that finished."""
        self._stopped = True
        if self._claim_timer is not None:
            self._claim_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()
