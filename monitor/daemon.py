"""The long-running service: APScheduler jobs per feed, the outbox worker, reloads, signals.

- One interval job per feed, jittered so feeds don't all fire at once. When a job fires, the
  store decides whether the feed is due: a failing feed backs off (its next check time and
  failure count are columns in the database, so a restart keeps them).
- The outbox worker runs beside the jobs and is woken when a poll queues alerts.
- Reload on SIGHUP, and by itself when feeds.yaml or rules.yaml change on disk. A reload
  that fails validation is logged (file:line for every problem) and the running
  configuration stays in force. The new matcher is built off the event loop and swapped in.
- SIGTERM/SIGINT: stop polling, give sends in flight up to 30 s, keep the rest queued.
- systemd: READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1 over $NOTIFY_SOCKET (Type=notify).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import FEEDS_FILE, RULES_FILE, Config, load_config
from monitor.deliver import Notifier, build_notifier
from monitor.errors import ConfigError, StorageError
from monitor.fetch import Fetcher
from monitor.log import get_logger
from monitor.match import Matcher
from monitor.models import ChannelConfig, FeedConfig
from monitor.notices import Notices
from monitor.outbox import OutboxWorker
from monitor.pipeline import Pipeline, Rules
from monitor.store import Store

log = get_logger("monitor.daemon")

WATCH_INTERVAL = 5.0
RETENTION = 30 * 86400.0  # article text, matches and the delivery log are kept this long
DRAIN_GRACE = 30.0
ONCE_CONCURRENCY = 8


def sd_notify(message: str) -> None:
    """Tell systemd something (no-op when not started by systemd with Type=notify)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as e:
        log.warning("sd_notify_failed", error=str(e))


def build_rules(config: Config) -> Rules:
    matcher = Matcher.build(config.rules, config.entities)
    return Rules(matcher, {r.name: r for r in config.rules}, dict(config.channels))


def build_notifiers(channels: Mapping[str, ChannelConfig]) -> dict[str, Notifier]:
    return {name: build_notifier(channel) for name, channel in channels.items()}


class Service:
    def __init__(
        self,
        config_dir: Path,
        db_path: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_dir = config_dir
        self.db_path = db_path
        self.clock = clock
        self.config = load_config(config_dir)
        for warning in self.config.warnings:
            log.warning("config_warning", problem=warning)
        self.store = Store(db_path)
        try:
            self.store.lock_instance()
        except StorageError:
            self.store.close()
            raise
        released = self.store.release_leases()
        if released:
            log.info("leases_released", alerts=released, hint="resent with the same alert id")
        self.fetcher = Fetcher()
        self.notices = Notices(self.store, self.config.operator_channel, clock)
        self.pipeline = Pipeline(
            self.store, self.fetcher, build_rules(self.config), clock=clock, notices=self.notices
        )
        self.worker = OutboxWorker(
            self.store, build_notifiers(self.config.channels), clock=clock, notices=self.notices
        )
        self.pipeline.on_queued = self.worker.wake
        self.notices.on_queued = self.worker.wake
        self._mtimes = self._config_mtimes()
        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None

    # ------------------------------------------------------------------ once

    async def run_once(self) -> int:
        """Poll every enabled feed once, deliver what is due, and return (for cron and tests)."""
        limit = asyncio.Semaphore(ONCE_CONCURRENCY)

        async def poll(feed: FeedConfig) -> None:
            async with limit:
                await self.pipeline.poll_feed(feed)

        try:
            await asyncio.gather(*(poll(f) for f in self.config.feeds if f.enabled))
            await self.worker.drain()
        finally:
            await self.close()
        return 0

    # ------------------------------------------------------------------ service

    async def run_forever(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler = scheduler
        self._schedule_feeds(scheduler, self.config.feeds)
        scheduler.add_job(
            self._watch_config, IntervalTrigger(seconds=WATCH_INTERVAL), id="watch-config"
        )
        scheduler.add_job(self._prune, IntervalTrigger(hours=24), id="prune")
        watchdog = os.environ.get("WATCHDOG_USEC")
        if watchdog and watchdog.isdigit():
            scheduler.add_job(
                lambda: sd_notify("WATCHDOG=1"),
                IntervalTrigger(seconds=max(1.0, int(watchdog) / 2e6)),
                id="watchdog",
            )
        scheduler.start()
        worker = asyncio.create_task(self.worker.run())
        log.info(
            "service_started",
            feeds=len(self.config.feeds),
            rules=len(self.config.rules),
            channels=len(self.config.channels),
            db=str(self.db_path),
        )
        sd_notify(f"READY=1\nSTATUS=watching {len(self.config.feeds)} feeds")
        await self._stop.wait()
        sd_notify("STOPPING=1")
        log.info("service_stopping")
        scheduler.shutdown(wait=False)
        cancelled = await self.worker.stop(DRAIN_GRACE)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await self.close()
        log.info("service_stopped", unfinished_sends=cancelled)
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        await self.fetcher.aclose()
        for notifier in self.worker.notifiers.values():
            await notifier.aclose()
        self.store.close()

    def _schedule_feeds(self, scheduler: AsyncIOScheduler, feeds: tuple[FeedConfig, ...]) -> None:
        wanted = {f"feed:{f.name}": f for f in feeds if f.enabled}
        for job in scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
        now = self.clock()
        for job_id, feed in wanted.items():
            state = self.store.feed_state(feed.name)
            due = state.next_check.timestamp() if state and state.next_check else now
            first = max(due, now) + random.uniform(0, min(5.0, feed.interval / 10))
            trigger = IntervalTrigger(seconds=feed.interval, jitter=min(60.0, feed.interval / 10))
            scheduler.add_job(
                self._poll,
                trigger,
                args=[feed.name],
                id=job_id,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=_utc(first),
            )

    async def _poll(self, name: str) -> None:
        feed = next((f for f in self.config.feeds if f.name == name), None)
        if feed is None:
            return
        state = self.store.feed_state(name)
        backing_off = (
            state is not None
            and state.consecutive_failures > 0
            and state.next_check is not None
            and state.next_check.timestamp() > self.clock() + 1
        )
        if backing_off:
            return
        await self.pipeline.poll_feed(feed)

    async def _prune(self) -> None:
        removed = await asyncio.to_thread(self.store.prune, before=self.clock() - RETENTION)
        log.info("store_pruned", articles=removed)

    # ------------------------------------------------------------------ reload

    def _config_mtimes(self) -> tuple[float, ...]:
        out = []
        for name in (FEEDS_FILE, RULES_FILE):
            try:
                out.append((self.config_dir / name).stat().st_mtime)
            except OSError:
                out.append(0.0)
        return tuple(out)

    async def _watch_config(self) -> None:
        mtimes = self._config_mtimes()
        if mtimes != self._mtimes:
            self._mtimes = mtimes
            await self.reload()

    async def reload(self) -> bool:
        """Load the configuration again; on any problem keep running on the old one."""
        async with self._reloading:
            try:
                config = await asyncio.to_thread(load_config, self.config_dir)
                rules = await asyncio.to_thread(build_rules, config)
            except ConfigError as e:
                for problem in e.problems:
                    log.error("config_invalid", problem=problem)
                log.error("reload_rejected", hint="the previous configuration stays in force")
                return False
            for warning in config.warnings:
                log.warning("config_warning", problem=warning)
            old_notifiers = self.worker.notifiers
            gc.freeze()  # the new rules are long-lived: keep collections from rescanning them
            self.config = config
            self.notices.operator_channel = config.operator_channel
            self.pipeline.swap_rules(rules)
            self.worker.set_notifiers(build_notifiers(config.channels))
            if self._scheduler is not None:
                self._schedule_feeds(self._scheduler, config.feeds)
            asyncio.get_running_loop().call_later(
                DRAIN_GRACE * 3, lambda: _close_later(old_notifiers)
            )
            log.info("config_reloaded", feeds=len(config.feeds), rules=len(config.rules))
            sd_notify(f"STATUS=watching {len(config.feeds)} feeds")
            return True


_closing: set[asyncio.Task[None]] = set()


def _close_later(notifiers: Mapping[str, Notifier]) -> None:
    for notifier in notifiers.values():
        task = asyncio.ensure_future(notifier.aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)


def _utc(ts: float) -> object:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
