"""What the service counts, and the HTTP endpoint that shows it: `/metrics` and `/healthz`.

Every metric is declared once, here, in a registry of this `Metrics` object (not the process
global one, so several services in one process, as in tests, each count their own). The
stages count where they know: the poller each poll's outcome and lateness, the pipeline pages
and matches, the outbox worker sends and their latency, the daemon reloads.

Figures that live in the database (alerts pending per channel, rules muted, channels paused)
are read by `refresh_from_store` on the store thread every `REFRESH` seconds, never on the
event loop and never by a scrape.

The endpoint runs on a thread of its own (`MetricsServer`), so it answers while the event
loop is stalled, and `/healthz` can say so: it fails (503) when the loop's own timer
(`watch_loop`) has not fired for `LOOP_STALLED` seconds, or the claim tick has not run for
`CLAIM_STALLED` seconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from monitor.errors import ConfigError, StorageError
from monitor.log import get_logger
from monitor.store import StoreThread

log = get_logger("monitor.metrics")
# no `_created` series beside every counter: twice the lines, and nothing reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

POLL_OUTCOMES = ("ok", "not_modified", "unchanged", "failed", "rate_limited", "gone")
LOOP_BEAT = 0.5  # seconds between the loop watch's timers
LOOP_STALLED = 10.0  # /healthz fails when the loop's timer has not fired for this long
CLAIM_STALLED = 30.0  # ... or the claim tick (every second) has not run for this long
REFRESH = 10.0  # seconds between readings of the figures kept in the database
LATENESS_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


@dataclass
class StoreFigures:
    """The latest reading of what the database holds (`refresh_from_store`)."""

    pending: Mapping[str, int] = field(default_factory=dict)
    muted: int = 0
    paused: frozenset[str] = frozenset()


class Metrics:
    """Every metric of the service, in a registry of its own."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.polls = Counter(
            "news_monitor_polls", "Feed polls, by outcome", ["outcome"], registry=r
        )
        self.items_new = Counter(
            "news_monitor_items_new", "Feed items seen for the first time", registry=r
        )
        self.pages_fetched = Counter(
            "news_monitor_pages_fetched", "Article pages fetched", registry=r
        )
        self.pages_failed = Counter(
            "news_monitor_pages_failed",
            "Article pages that could not be fetched (the alert carries the feed's text)",
            registry=r,
        )
        self.extraction_failures = Counter(
            "news_monitor_extraction_failures",
            "Articles whose page could not be read (the alert carries the feed's text)",
            registry=r,
        )
        self.matches = Counter(
            "news_monitor_matches", "Rule matches (muted rules too), by rule", ["rule"], registry=r
        )
        self.alerts_sent = Counter(
            "news_monitor_alerts_sent", "Alerts delivered, by channel", ["channel"], registry=r
        )
        self.alerts_failed = Counter(
            "news_monitor_alerts_failed",
            "Alerts given up on (a permanent failure, or retries exhausted), by channel",
            ["channel"],
            registry=r,
        )
        self.delivery_errors = Counter(
            "news_monitor_delivery_errors",
            "Delivery attempts that failed (retried or given up), by channel",
            ["channel"],
            registry=r,
        )
        self.poll_lateness = Histogram(
            "news_monitor_poll_lateness_seconds",
            "How long after its feed was due each poll's request started",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.alert_latency = Histogram(
            "news_monitor_alert_latency_seconds",
            "From an alert's creation (its item recorded) to its delivery; kind: alert (on"
            " its own), digest or summary (waited for its batch)",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            "news_monitor_reloads", "Configuration reloads, by outcome", ["outcome"], registry=r
        )
        self.loop_lag = Gauge(
            "news_monitor_event_loop_lag_seconds",
            f"How late the event loop ran its last {LOOP_BEAT:g}-second timer",
            registry=r,
        )
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)
        for outcome in ("ok", "rejected"):
            self.reloads.labels(outcome)
        self.health = Health()
        self.figures = StoreFigures()
        self._channels: tuple[str, ...] = ()
        r.register(_StoreGauges(self))

    def configure(self, rules: Iterable[str], channels: Iterable[str]) -> None:
        """Show every configured rule and channel, at zero until it counts something."""
        self._channels = tuple(channels)
        for rule in rules:
            self.matches.labels(rule)
        for channel in self._channels:
            for counter in (self.alerts_sent, self.alerts_failed, self.delivery_errors):
                counter.labels(channel)

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    def polled(self, status: str, *, new: int, late: float) -> None:
        self.polls.labels(status).inc()
        self.items_new.inc(new)
        self.poll_lateness.observe(late)

    def sent(self, channel: str, created: Sequence[float], *, now: float, kind: str) -> None:
        self.alerts_sent.labels(channel).inc(len(created))
        for at in created:
            self.alert_latency.labels(kind).observe(max(0.0, now - at))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreGauges(Collector):
    """The gauges read from the database, from the latest `StoreFigures`."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        figures, channels = self._metrics.figures, self._metrics.channels
        pending = GaugeMetricFamily(
            "news_monitor_alerts_pending",
            f"Alerts waiting to be sent, by channel (read every {REFRESH:g} s)",
            labels=["channel"],
        )
        for channel in sorted({*channels, *figures.pending}):
            pending.add_metric([channel], figures.pending.get(channel, 0))
        yield pending
        paused = GaugeMetricFamily(
            "news_monitor_channel_paused",
            "1 while a channel is paused (`monitor pause`), else 0",
            labels=["channel"],
        )
        for channel in sorted({*channels, *figures.paused}):
            paused.add_metric([channel], 1 if channel in figures.paused else 0)
        yield paused
        yield GaugeMetricFamily(
            "news_monitor_rules_muted", "Rules muted now (`monitor mute`)", value=figures.muted
        )


# --------------------------------------------------------------------------- health


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problems: tuple[str, ...]
    loop_age: float
    claim_age: float

    def body(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "problems": list(self.problems),
            "event_loop_heartbeat_age_seconds": round(self.loop_age, 3),
            "claim_tick_age_seconds": round(self.claim_age, 3),
        }


def judge(now: float, started: float, last_beat: float | None, last_claim: float | None) -> Verdict:
    """Whether the service is healthy at `now` (monotonic seconds): its loop's timer fired
    and its claim tick ran recently. One that has not run yet is as old as the service."""
    loop_age = now - (last_beat if last_beat is not None else started)
    claim_age = now - (last_claim if last_claim is not None else started)
    problems = []
    if loop_age > LOOP_STALLED:
        problems.append(
            f"event loop stalled: its timer has not fired for {loop_age:.1f} s"
            f" (limit {LOOP_STALLED:g} s)"
        )
    if claim_age > CLAIM_STALLED:
        problems.append(
            f"claim tick not run for {claim_age:.1f} s (limit {CLAIM_STALLED:g} s):"
            " no feed is being claimed for polling"
        )
    return Verdict(not problems, tuple(problems), loop_age, claim_age)


class Health:
    """When the loop's timer and the claim tick last ran (monotonic; written by the loop,
    read by the server thread)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.last_beat: float | None = None
        self.last_claim: float | None = None

    def beat(self) -> None:
        self.last_beat = self.clock()

    def claimed(self) -> None:
        self.last_claim = self.clock()

    def verdict(self) -> Verdict:
        return judge(self.clock(), self.started, self.last_beat, self.last_claim)


# --------------------------------------------------------------------------- loop tasks


async def watch_loop(metrics: Metrics) -> None:
    """Sleep `LOOP_BEAT` seconds again and again; how late each wake-up comes is the loop's
    lag, and each wake-up is the heartbeat `/healthz` looks for."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LOOP_BEAT)
        metrics.loop_lag.set(max(0.0, time.monotonic() - before - LOOP_BEAT))
        metrics.health.beat()


class FiguresStore(Protocol):
    def pending_by_channel(self) -> dict[str, int]: ...

    def muted_rules(self, *, now: float) -> dict[str, float]: ...

    def paused_channels(self) -> dict[str, float]: ...


async def refresh_from_store(
    metrics: Metrics, store: FiguresStore, db: StoreThread, clock: Callable[[], float]
) -> None:
    """Read the figures kept in the database every `REFRESH` seconds, on the store thread."""
    while True:
        try:
            pending = await db.call(store.pending_by_channel)
            muted = await db.call(store.muted_rules, now=clock())
            paused = await db.call(store.paused_channels)
        except StorageError as e:  # the last reading stays; the next one tries again
            log.error("storage_failed", error=str(e))
        else:
            metrics.figures = StoreFigures(pending, len(muted), frozenset(paused))
        await asyncio.sleep(REFRESH)


# --------------------------------------------------------------------------- the endpoint


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Metrics) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.metrics = metrics
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10.0  # a client that sends nothing gives its thread back

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        metrics = self.server.metrics
        if path == "/metrics":
            self._reply(200, CONTENT_TYPE_LATEST, metrics.render())
        elif path == "/healthz":
            verdict = metrics.health.verdict()
            body = json.dumps(verdict.body()).encode() + b"\n"
            self._reply(200 if verdict.ok else 503, "application/json", body)
        else:
            self._reply(404, "text/plain; charset=utf-8", b"/metrics or /healthz\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # scrapes every 15 s would drown the log


class MetricsServer:
    """`/metrics` and `/healthz` on `address`, served by a thread of their own."""

    def __init__(self, metrics: Metrics, address: tuple[str, int]) -> None:
        self.metrics = metrics
        self.address = address
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def shown(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> None:
        """Listen and serve; a ConfigError when the address cannot be listened on."""
        try:
            self._server = _Server(self.address, self.metrics)
        except OSError as e:
            reason = e.strerror or str(e)
            raise ConfigError(
                [
                    f"feeds.yaml: metrics.listen: cannot listen on {self.shown}: {reason}"
                    " (another news-monitor, or another exporter, may hold it: give another"
                    ' address with `metrics: {listen: "host:port"}`, or `metrics: off`)'
                ]
            ) from e
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="monitor-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
