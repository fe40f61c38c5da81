"""The long-running service: the claim loop, the outbox worker, reloads, signals.

- The schedule lives in the database (`monitor.poller`): a claim tick takes the feeds that
  are due into a bounded pool (`polling: max_polls`, `per_host` in feeds.yaml); a restart
  resumes from the stored due times. APScheduler runs the housekeeping: the claim tick,
  the config watch, pruning and the systemd watchdog.
- The outbox worker runs beside the jobs and is woken when a poll queues alerts.
- CPU work (parsing, extraction, matching) runs in worker processes (`monitor.workers`),
  each holding the compiled rules; store calls run on one thread of their own
  (`monitor.store.thread`). The event loop only waits, so the watchdog it pings means what
  it says.
- Reload on SIGHUP, and by itself when feeds.yaml or rules.yaml change on disk. A reload
  that fails in any way is logged (`config_invalid`, file:line for every problem) and the
  running configuration stays in force: so is one with a channel that cannot send
  (`monitor.verify`), or one that would drop every rule or every channel (an empty or
  truncated rules.yaml). New workers compile the new rules while the old
  ones keep matching, and take over once all of them are ready.
- SIGTERM/SIGINT: stop polling, give sends in flight up to 30 s, keep the rest queued.
- systemd: READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1 over $NOTIFY_SOCKET (Type=notify).
  STATUS= (`monitor.service_status`) is refreshed every 30 s and after each reload; the
  watchdog ping is a coroutine job, so it runs on the event loop itself and stops when the
  loop stalls.
- Metrics and health (`monitor.metrics`): `/metrics` and `/healthz` on `metrics.listen`
  (127.0.0.1:9464 unless feeds.yaml says otherwise, or `metrics: off`), from a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import __version__
from monitor.config import FEEDS_FILE, RULES_FILE, Config, load_config
from monitor.deliver import Notifier, build_notifier
from monitor.errors import ConfigError, StorageError, WorkerError
from monitor.fetch import Fetcher
from monitor.log import get_logger
from monitor.metrics import Metrics, MetricsServer, refresh_from_store, watch_loop
from monitor.models import ChannelConfig, PollingConfig
from monitor.notices import Notices
from monitor.outbox import OutboxWorker
from monitor.pipeline import PAGES_IN_FLIGHT, Pipeline, Rules, describe
from monitor.poller import Poller
from monitor.service_status import REFRESH, ConfigEvent, ConfigState, status_line
from monitor.store import DaemonInfo, DaemonRow, Store, StoreThread, open_store
from monitor.store.summary import service_counts
from monitor.tasks import load_rules
from monitor.verify import channel_problems, reload_refusal
from monitor.workers import CpuPool, Setup

log = get_logger("monitor.daemon")

WATCH_INTERVAL = 5.0
RETENTION = 30 * 86400.0  # article text, matches and the delivery log are kept this long
DRAIN_GRACE = 30.0
CLAIM_TICK = 1.0  # seconds between claims of due feeds (finishing polls also claim)
EX_CONFIG = 78  # exit status when the metrics address cannot be listened on (sysexits.h)


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
    return Rules({r.name: r for r in config.rules}, dict(config.channels))


def rules_setup(config: Config) -> Setup:
    """What every worker process runs first: compile the rules of `config`."""
    return load_rules, (config.rules, dict(config.entities))


def build_fetcher(polling: PollingConfig) -> Fetcher:
    """One HTTP client with a connection for every request that may be in flight (each poll
    in flight and each page), so no request waits for a connection inside its deadline."""
    return Fetcher(max_connections=polling.max_polls + PAGES_IN_FLIGHT)


def build_notifiers(channels: Mapping[str, ChannelConfig]) -> dict[str, Notifier]:
    return {name: build_notifier(channel) for name, channel in channels.items()}


DEAD_SIBLING = (
    "a daemon of this host stopped without handing them back; its alerts in flight are"
    " resent with the same alert id"
)


def config_hash(config_dir: Path) -> str:
    """A short hash of the configuration files as they are on disk (daemons sharing a database
    compare theirs)."""
    digest = hashlib.sha256()
    for name in (FEEDS_FILE, RULES_FILE):
        try:
            data = (config_dir / name).read_bytes()
        except OSError:
            data = b""
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:12]


def daemon_identity(config_dir: Path) -> DaemonInfo:
    """This process as the database will know it: a new id at every start, on its node
    ($MONITOR_NODE, else the host name)."""
    host = os.environ.get("MONITOR_NODE") or socket.gethostname()
    pid = os.getpid()
    return DaemonInfo(
        id=f"{host}:{pid}:{secrets.token_hex(3)}",
        host=host,
        pid=pid,
        version=__version__,
        config_hash=config_hash(config_dir),
    )


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this host (one we may not signal runs too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Service:
    def __init__(
        self,
        config_dir: Path,
        db: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        sources: tuple[str, str] = ("given", "given"),
    ) -> None:
        """`sources` say where the configuration directory and the database came from
        (`monitor.locations`), for the start-up log line."""
        self.config_dir = config_dir
        self.db_target = str(db)
        self.sources = sources
        self.clock = clock
        self.config = load_config(config_dir)
        unusable = channel_problems(self.config, config_dir)
        if unusable:
            raise ConfigError(unusable)
        for warning in self.config.warnings:
            log.warning("config_warning", problem=warning)
        self.identity = daemon_identity(config_dir)
        self.store: Store = open_store(db)
        try:
            self.store.register_daemon(self.identity, now=clock(), lease=self.config.polling.lease)
            released = self.store.release_dead(self.identity.host, pid_alive, now=clock())
        except StorageError:
            self.store.close()
            raise
        if released:
            log.info("claims_released", claims=released, hint=DEAD_SIBLING)
        self._peers_warned: frozenset[str] = frozenset()
        self.fetcher = build_fetcher(self.config.polling)
        self.db = StoreThread(self.store.concurrency)
        self.pool = CpuPool(setup=rules_setup(self.config))
        self.notices = Notices(self.store, self.config.operator_channel, clock)
        self.metrics = Metrics()
        self.metrics.configure((r.name for r in self.config.rules), self.config.channels)
        self._metrics_server: MetricsServer | None = None
        self._metrics_tasks: list[asyncio.Task[None]] = []
        self.pipeline = Pipeline(
            self.store,
            self.fetcher,
            build_rules(self.config),
            self.pool,
            clock=clock,
            db=self.db,
            metrics=self.metrics,
        )
        self.poller = Poller(
            self.store,
            self.db,
            self.pipeline,
            self.notices,
            feeds=self.config.feeds,
            polling=self.config.polling,
            clock=clock,
            owner=self.identity.id,
            metrics=self.metrics,
        )
        self.worker = OutboxWorker(
            self.store,
            build_notifiers(self.config.channels),
            clock=clock,
            notices=self.notices,
            db=self.db,
            owner=self.identity.id,
            metrics=self.metrics,
        )
        self.pipeline.on_queued = self.worker.wake
        self.notices.on_queued = self.worker.wake
        self._mtimes = self._config_mtimes()
        self._stop = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()
        self._config_state = ConfigState("started", clock())

    # ------------------------------------------------------------------ once

    async def run_once(self) -> int:
        """Poll every enabled feed once, deliver what is due, and return (for cron and tests).

        0: the run completed (feeds that failed are recorded: `monitor status`); 1: it could
        not start (the rules did not compile in the workers) or could not read the database.
        """
        try:
            self._start_heartbeat()
            if not await self._start_workers():
                return 1
            await self.poller.sync()
            await self.poller.poll_all()
            await self.worker.drain()
        except StorageError as e:
            log.error("storage_failed", error=describe(e))
            return 1
        finally:
            await self.close()
        return 0

    async def _start_workers(self) -> bool:
        try:
            await self.pool.start()
        except WorkerError as e:
            log.error("workers_not_started", error=str(e))
            return False
        return True

    # ------------------------------------------------------------------ service

    async def run_forever(self) -> int:
        self._start_heartbeat()
        if not self._serve_metrics():
            await self.close()
            return EX_CONFIG
        if not await self._start_workers():
            await self.close()
            return 1
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        try:
            await self.poller.sync()
        except StorageError as e:
            log.error("storage_failed", error=describe(e))
            await self.close()
            return 1
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            self.poller.claim,
            IntervalTrigger(seconds=CLAIM_TICK),
            id="claim",
            max_instances=1,
            coalesce=True,
            next_run_time=_utc(self.clock()),
        )
        scheduler.add_job(
            self._watch_config, IntervalTrigger(seconds=WATCH_INTERVAL), id="watch-config"
        )
        scheduler.add_job(self._prune, IntervalTrigger(hours=24), id="prune")
        scheduler.add_job(self._report_status, IntervalTrigger(seconds=REFRESH), id="status")
        watchdog = os.environ.get("WATCHDOG_USEC")
        if watchdog and watchdog.isdigit():
            scheduler.add_job(
                _watchdog_ping,
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
            config_dir=str(self.config_dir.absolute()),
            config_from=self.sources[0],
            db=self.store.location,
            db_from=self.sources[1],
            daemon=self.identity.id,
        )
        await self._report_status(ready=True)
        await self._stop.wait()
        sd_notify("STOPPING=1")
        log.info("service_stopping")
        scheduler.shutdown(wait=False)
        await self.poller.stop()
        cancelled = await self.worker.stop(DRAIN_GRACE)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await self.close()
        log.info("service_stopped", unfinished_sends=cancelled)
        return 0

    def stop(self) -> None:
        self._stop.set()

    def _serve_metrics(self) -> bool:
        """Serve /metrics and /healthz, unless `metrics: off`. An address written in
        feeds.yaml that cannot be listened on stops the service; the default one, when taken
        (say by a second daemon on this host), is warned about and left."""
        listen = self.config.metrics.listen
        if listen is None:
            return True
        server = MetricsServer(self.metrics, listen)
        try:
            server.start()
        except ConfigError as e:
            if self.config.metrics.explicit:
                log.error("metrics_not_served", problem=str(e), exit_status=EX_CONFIG)
                return False
            log.warning("metrics_not_served", problem=str(e))
            return True
        self._metrics_server = server
        self._metrics_tasks = [
            asyncio.create_task(watch_loop(self.metrics)),
            asyncio.create_task(refresh_from_store(self.metrics, self.store, self.db, self.clock)),
        ]
        log.info("metrics_served", address=server.shown, paths="/metrics /healthz")
        return True

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        for task in self._metrics_tasks:
            task.cancel()
        await asyncio.gather(*self._metrics_tasks, return_exceptions=True)
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.stop)
        await self.fetcher.aclose()
        for notifier in self.worker.notifiers.values():
            await notifier.aclose()
        await self.pool.close()
        try:
            released = await self.db.call(
                self.store.retire_daemon, self.identity.id, now=self.clock()
            )
        except StorageError as e:  # its claims run out by themselves
            log.error("storage_failed", error=describe(e))
        else:
            if released:
                log.info("claims_handed_back", claims=released)
        self.db.close()
        self.store.close()

    def _start_heartbeat(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        """Renew this daemon's claims every quarter of the lease, take back at once the claims
        of a daemon of this host that died, and compare configurations with the other live
        daemons."""
        while True:
            lease = self.config.polling.lease
            await asyncio.sleep(lease / 4)
            identity = replace(self.identity, config_hash=config_hash(self.config_dir))
            try:
                beat = self.clock()
                renewal = await self.db.call(self.store.heartbeat, identity, now=beat, lease=lease)
                self.poller.renewed(renewal.feeds, beat + lease)
                released = await self.db.call(
                    self.store.release_dead, identity.host, pid_alive, now=self.clock()
                )
                peers = await self.db.call(self.store.daemons, now=self.clock())
            except StorageError as e:  # renewed at the next beat, if the lease has not run out
                log.error("storage_failed", error=describe(e))
                continue
            if released:
                log.warning("claims_released", claims=released, hint=DEAD_SIBLING)
            self._compare_configs(identity, peers)

    def _compare_configs(self, identity: DaemonInfo, peers: list[DaemonRow]) -> None:
        """Warn once per disagreement when live daemons run different configurations."""
        others = frozenset(
            f"{p.id}={p.config_hash}" for p in peers if p.config_hash != identity.config_hash
        )
        if others and others != self._peers_warned:
            log.warning(
                "config_differs",
                config_hash=identity.config_hash,
                others=sorted(others),
                hint="daemons on one database should read the same feeds.yaml and rules.yaml",
            )
        self._peers_warned = others

    async def _prune(self) -> None:
        try:
            removed = await self.db.call(self.store.prune, before=self.clock() - RETENTION)
        except StorageError as e:
            log.error("storage_failed", error=describe(e))
            return
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
                problems = reload_refusal(self.config, config)
                problems += await asyncio.to_thread(channel_problems, config, self.config_dir)
                if not problems:
                    await self.pool.reconfigure(rules_setup(config))
            except ConfigError as e:
                problems = e.problems
            except Exception as e:  # whatever it is, the running configuration stays
                problems = [describe(e)]
            await self._record_reload(problems)
            if problems:
                for problem in problems:
                    log.error("config_invalid", problem=problem)
                log.error("reload_rejected", hint="the previous configuration stays in force")
                self.metrics.reloads.labels("rejected").inc()
                await self._report_status("reload rejected")
                return False
            rules = build_rules(config)
            for warning in config.warnings:
                log.warning("config_warning", problem=warning)
            old_notifiers = self.worker.notifiers
            if config.metrics != self.config.metrics:
                log.warning("metrics_listen_changed", hint="a restart applies the new address")
            self.metrics.configure((r.name for r in config.rules), config.channels)
            self.config = config
            self.notices.operator_channel = config.operator_channel
            self.pipeline.swap_rules(rules)
            self.worker.set_notifiers(build_notifiers(config.channels))
            if config.polling != self.poller.polling:
                old_fetcher, self.fetcher = self.fetcher, build_fetcher(config.polling)
                self.pipeline.fetcher = self.fetcher
                asyncio.get_running_loop().call_later(
                    DRAIN_GRACE * 3, lambda: _close_later([old_fetcher])
                )
            self.poller.configure(config.feeds, config.polling)
            try:
                await self.poller.sync()
            except StorageError as e:  # the next reload or restart syncs again
                log.error("storage_failed", error=describe(e))
            asyncio.get_running_loop().call_later(
                DRAIN_GRACE * 3, lambda: _close_later(old_notifiers.values())
            )
            log.info("config_reloaded", feeds=len(config.feeds), rules=len(config.rules))
            self.metrics.reloads.labels("ok").inc()
            await self._report_status("rules reloaded")
            return True

    async def _record_reload(self, problems: list[str]) -> None:
        """Keep the reload's outcome where `monitor status` shows it."""
        try:
            await self.db.call(
                self.store.record_reload, self.identity.id, now=self.clock(), problems=problems
            )
        except StorageError as e:  # the reload itself is not undone for it
            log.error("storage_failed", error=describe(e))

    # ------------------------------------------------------------------ systemd status

    async def _status_line(self) -> str:
        feeds = sum(1 for f in self.config.feeds if f.enabled)
        counts = await self.db.call(service_counts, self.store)
        disabled = len(self.config.feeds) - feeds
        return status_line(feeds, disabled, counts, self._config_state)

    async def _report_status(
        self, event: ConfigEvent | None = None, *, ready: bool = False
    ) -> None:
        """Send STATUS= to systemd (after READY=1 if `ready`); `event` is a configuration
        event that just happened."""
        if event is not None:
            self._config_state = ConfigState(event, self.clock())
        lines = ["READY=1"] if ready else []
        try:
            lines.append(f"STATUS={await self._status_line()}")
        except StorageError as e:  # the next refresh tries again
            log.error("storage_failed", error=describe(e))
        if lines:
            sd_notify("\n".join(lines))


async def _watchdog_ping() -> None:
    """A coroutine, so APScheduler runs it on the event loop (a plain function would run on
    a thread of the default executor and could ping for a stalled loop)."""
    sd_notify("WATCHDOG=1")


_closing: set[asyncio.Task[None]] = set()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


def _close_later(closables: Iterable[_Closable]) -> None:
    """Close what a reload replaced, once what it had in flight is done."""
    for closable in closables:
        task = asyncio.ensure_future(closable.aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)


def _utc(ts: float) -> object:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
