"""Metrics and health as an operator's Prometheus sees them: the real daemon, a local news
site and webhook receiver, /metrics scraped and read with prometheus_client's own parser.
The event loop is stalled for real (a coroutine that blocks it) to see /healthz fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.daemon import EX_CONFIG, Service
from monitor.errors import ConfigError
from monitor.metrics import CLAIM_STALLED, LOOP_STALLED, judge
from tests.ops.conftest import write_desk
from tests.support.receivers import WebhookReceiver, free_port
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]
FEED = "/wire.xml"


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its sockets in /proc/net/tcp{,6} state 0A)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@dataclass
class Desk:
    config: Path
    db: Path
    site: NewsSite
    hook: WebhookReceiver
    log: Path

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            MONITOR_DB=str(self.db),
            MONITOR_CONFIG_DIR=str(self.config),
            PYTHONPATH=str(ROOT),
        )

    def monitor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("w") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config-dir", str(self.config)],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, proc: subprocess.Popen[bytes], text: str) -> None:
        def seen() -> bool:
            assert proc.poll() is None, f"daemon exited:\n{self.log.read_text()}"
            return text in self.log.read_text()

        eventually(seen, f"{text!r} in the log")


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def write_config(config: Path, site: NewsSite, hook: WebhookReceiver, metrics: str) -> None:
    quiet = "  - {name: quiet, query: 'volcano', channels: [hook]}\n"
    write_desk(config, f"{site.url}{FEED}", hook.url, rules=quiet, metrics=metrics)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with NewsSite() as site, WebhookReceiver() as hook:
        site.add_feed(
            FEED,
            rss_feed(
                "Wire",
                [
                    FeedEntry("Tehran talks resume", "https://x.org/1", "g1"),
                    FeedEntry("Markets open flat", "https://x.org/2", "g2"),
                ],
            ),
        )
        config = tmp_path / "etc"
        config.mkdir()
        yield Desk(config, tmp_path / "monitor.db", site, hook, tmp_path / "log")


def test_a_poll_and_a_delivery_move_the_counters_and_pauses_show(desk: Desk) -> None:
    port = free_port()
    write_config(desk.config, desk.site, desk.hook, f'{{listen: "127.0.0.1:{port}"}}')
    paused = desk.monitor("pause", "hook")  # the alert waits in the outbox: pending shows
    assert paused.returncode == 0, paused.stderr
    proc = desk.start()
    try:
        desk.wait_for(proc, "event='service_started'")
        assert port in listening_ports(proc.pid)

        def polled_and_read() -> bool:
            m = scrape(port)
            return (
                value(m, "news_monitor_polls_total", outcome="ok") == 1
                and value(m, "news_monitor_alerts_pending", channel="hook") == 1
            )

        eventually(polled_and_read, "one poll counted and its alert pending")
        m = scrape(port)
        assert len(desk.site.requests_for(FEED)) == 1
        assert value(m, "news_monitor_items_new_total") == 2
        assert value(m, "news_monitor_matches_total", rule="iran-watch") == 1
        assert value(m, "news_monitor_matches_total", rule="quiet") == 0
        assert value(m, "news_monitor_poll_lateness_seconds_count") == 1
        assert value(m, "news_monitor_channel_paused", channel="hook") == 1
        assert value(m, "news_monitor_alerts_sent_total", channel="hook") == 0
        for outcome in ("not_modified", "unchanged", "failed", "rate_limited", "gone"):
            assert value(m, "news_monitor_polls_total", outcome=outcome) == 0

        # the receiver fails once: the retry (5 s later) delivers it
        desk.hook.reply(500)
        assert desk.monitor("resume", "hook").returncode == 0
        assert desk.monitor("mute", "quiet", "--for", "2h").returncode == 0
        proc.send_signal(signal.SIGHUP)  # a reload wakes the sender
        eventually(lambda: len(desk.hook.requests) == 2, "the alert sent after one retry")

        def delivered() -> bool:
            m = scrape(port)
            return (
                value(m, "news_monitor_alerts_sent_total", channel="hook") == 1
                and value(m, "news_monitor_alerts_pending", channel="hook") == 0
                and value(m, "news_monitor_channel_paused", channel="hook") == 0
                and value(m, "news_monitor_rules_muted") == 1
            )

        eventually(delivered, "the delivery, the resume and the mute counted")
        m = scrape(port)
        assert value(m, "news_monitor_delivery_errors_total", channel="hook") == 1
        assert value(m, "news_monitor_alerts_failed_total", channel="hook") == 0
        assert value(m, "news_monitor_alert_latency_seconds_count", kind="alert") == 1
        # created at the poll, sent after the pause and a retry's backoff (5 s, less 10 %)
        assert value(m, "news_monitor_alert_latency_seconds_sum", kind="alert") >= 4.5
        assert value(m, "news_monitor_reloads_total", outcome="ok") == 1
        assert value(m, "news_monitor_reloads_total", outcome="rejected") == 0
        assert 0 <= value(m, "news_monitor_event_loop_lag_seconds") < LOOP_STALLED

        status, body = get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok" and health["problems"] == []
        assert health["event_loop_heartbeat_age_seconds"] < LOOP_STALLED
        assert health["claim_tick_age_seconds"] < CLAIM_STALLED
    finally:
        assert stop(proc) == 0


def test_metrics_off_listens_on_nothing(desk: Desk) -> None:
    write_config(desk.config, desk.site, desk.hook, "off")
    proc = desk.start()
    try:
        desk.wait_for(proc, "event='alert_sent'")
        assert listening_ports(proc.pid) == set()
        assert "metrics_served" not in desk.log.read_text()
    finally:
        assert stop(proc) == 0


def test_an_address_already_taken_stops_the_daemon_with_a_clear_error(desk: Desk) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(desk.config, desk.site, desk.hook, f'{{listen: "127.0.0.1:{port}"}}')
        started = time.perf_counter()
        proc = desk.start()
        code = proc.wait(timeout=60)
    output = desk.log.read_text()
    assert code == EX_CONFIG, output
    assert f"cannot listen on 127.0.0.1:{port}" in output and "metrics: off" in output
    assert "service_started" not in output
    assert time.perf_counter() - started < 30  # it stops at once, before any worker starts
    assert desk.site.requests_for(FEED) == []


def test_healthz_fails_while_the_event_loop_is_stalled(desk: Desk) -> None:
    port = free_port()
    write_config(desk.config, desk.site, desk.hook, f'{{listen: "127.0.0.1:{port}"}}')
    service = Service(desk.config, desk.db)
    answers: list[tuple[int, dict[str, object]]] = []

    def probe(until: threading.Event) -> None:
        while not until.is_set():
            status, body = get(f"http://127.0.0.1:{port}/healthz")
            answers.append((status, json.loads(body)))
            until.wait(0.25)

    async def scenario() -> int:
        running = asyncio.create_task(service.run_forever())

        def healthy() -> bool:
            try:
                return get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            except urllib.error.URLError:  # not listening yet
                return False

        await asyncio.to_thread(eventually, healthy, "/healthz 200 once started")
        done = threading.Event()
        prober = threading.Thread(target=probe, args=(done,))
        prober.start()
        time.sleep(LOOP_STALLED + 2)  # the stall: a coroutine that blocks its loop
        done.set()
        prober.join()
        await asyncio.to_thread(eventually, healthy, "/healthz 200 again once the loop runs")
        service.stop()
        return await running

    assert asyncio.run(scenario()) == 0
    failing = [body for status, body in answers if status == 503]
    assert failing, answers
    assert all(b["status"] == "failing" for b in failing)
    problems = failing[-1]["problems"]
    assert isinstance(problems, list) and len(problems) == 1
    assert str(problems[0]).startswith("event loop stalled")
    assert answers[0][0] == 200  # answered at once, while the loop was blocked


@pytest.mark.parametrize(
    ("beat", "claim", "problems"),
    [
        (1.0, 1.0, []),
        (LOOP_STALLED + 1, 1.0, ["event loop stalled"]),
        (1.0, CLAIM_STALLED + 1, ["claim tick not run"]),
        (LOOP_STALLED + 1, CLAIM_STALLED + 1, ["event loop stalled", "claim tick not run"]),
        (None, None, []),  # just started: nothing has had time to run yet
    ],
)
def test_health_is_judged_by_how_long_ago_each_ran(
    beat: float | None, claim: float | None, problems: list[str]
) -> None:
    now, started = 1000.0, 995.0
    verdict = judge(
        now,
        started,
        None if beat is None else now - beat,
        None if claim is None else now - claim,
    )
    assert verdict.ok == (not problems)
    assert len(verdict.problems) == len(problems)
    assert all(p.startswith(w) for p, w in zip(verdict.problems, problems, strict=True))


def test_never_run_counts_from_the_start() -> None:
    verdict = judge(1000.0, 1000.0 - CLAIM_STALLED - 1, 999.9, None)
    assert not verdict.ok and verdict.problems[0].startswith("claim tick not run")


@pytest.mark.parametrize(
    ("setting", "listen", "explicit"),
    [
        (None, ("127.0.0.1", 9464), False),
        ("off", None, True),
        ("false", None, True),
        ("on", ("127.0.0.1", 9464), False),
        ('{listen: "0.0.0.0:9100"}', ("0.0.0.0", 9100), True),
        ('{listen: "[::1]:9100"}', ("::1", 9100), True),
    ],
)
def test_the_metrics_setting(
    tmp_path: Path, setting: str | None, listen: tuple[str, int] | None, explicit: bool
) -> None:
    line = "" if setting is None else f"metrics: {setting}\n"
    (tmp_path / "feeds.yaml").write_text(line + "feeds: []\n")
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    metrics = load_config(tmp_path, cached=False).metrics
    assert (metrics.listen, metrics.explicit) == (listen, explicit)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ('{listen: "9464"}', "feeds.yaml:1:19: metrics.listen: expected host:port"),
        ('{listen: "::1:9464"}', "metrics.listen: expected host:port"),
        ('{listen: "127.0.0.1:70000"}', "metrics.listen: expected host:port"),
        ('{listen: "127.0.0.1:"}', "metrics.listen: expected host:port"),
        ("{listn: x}", "feeds.yaml:1:11: metrics.listn: unknown key (did you mean 'listen'?)"),
        ("[9464]", "metrics: expected a mapping"),
    ],
)
def test_a_bad_metrics_setting_says_where(tmp_path: Path, setting: str, problem: str) -> None:
    (tmp_path / "feeds.yaml").write_text(f"metrics: {setting}\nfeeds: []\n")
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, cached=False)
    assert any(problem in p for p in e.value.problems), e.value.problems


def test_each_service_counts_in_its_own_registry(desk: Desk) -> None:
    write_config(desk.config, desk.site, desk.hook, "off")
    first = Service(desk.config, desk.db)
    second = Service(desk.config, desk.db)
    try:
        first.metrics.polled("ok", new=3, late=0.1)
        assert b"news_monitor_items_new_total 3.0" in first.metrics.render()
        assert b"news_monitor_items_new_total 0.0" in second.metrics.render()
    finally:
        asyncio.run(first.close())
        asyncio.run(second.close())
