"""Quiet when healthy: one info line per feed poll plus one per match and per alert; per-item
detail at debug; a failure streak (of a feed, of a channel) warns once, then counts at debug,
and says when it is over.

Logs are read as the service prints them (`monitor.log`, key=value lines), at DEBUG, so each
test also sees that the detail it keeps out of the info lines is there one level down."""

from __future__ import annotations

import asyncio
import collections
import io
import os
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from monitor.deliver import build_notifier
from monitor.fetch import Fetcher
from monitor.log import setup_logging
from monitor.models import ChannelConfig, EntityConfig, FeedConfig, RuleConfig, WebhookChannel
from monitor.notices import Notices
from monitor.outbox import OutboxWorker
from monitor.pipeline import Pipeline, Rules
from monitor.store import open_store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.support.newsroom import CONTROLS, Story, article_page, load_story
from tests.support.polling import poll_feeds
from tests.support.receivers import WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

ROOT = Path(__file__).resolve().parents[2]
FEEDS = 12
ITEMS = 24  # per feed: half link to a page that is missing, one is about Tehran
LINE = re.compile(r"level='(\w+)' event='([a-z_]+)'")
ROUTINE = ("feed_polled", "rule_matched", "alert_sent")
DAY = 24 * 3600.0


def events(output: str) -> list[tuple[str, str, str]]:
    """(level, event, line) of every structured line."""
    return [(m[1], m[2], line) for line in output.splitlines() if (m := LINE.search(line))]


def count(lines: list[tuple[str, str, str]], level: str, event: str) -> int:
    return sum(1 for lv, ev, _ in lines if (lv, ev) == (level, event))


def page(title: str, seed: int) -> str:
    """A news page of its own: words of the control stories in a shuffled order, so no
    two pages are near-duplicates (which would share one alert)."""
    text = " ".join(" ".join(load_story(s).paragraphs) for s in CONTROLS)
    words = sorted(set(re.findall(r"[a-z]{4,}", text.lower())))
    rng = random.Random(seed)
    paragraphs = tuple(" ".join(rng.choices(words, k=40)) + "." for _ in range(5))
    return article_page(Story("page", title, paragraphs))


def newsroom(site: NewsSite) -> int:
    """FEEDS feeds of ITEMS recent items; returns how many items link to a missing page."""
    now = datetime.now(UTC).replace(microsecond=0)
    missing = 0
    for f in range(FEEDS):
        entries = []
        for n in range(ITEMS):
            absent = n % 2 == 1
            missing += absent
            path = f"/articles/{f}/{n}.html"
            title = f"Tehran talks resume, desk {f}" if n == 0 else f"Desk {f} story {n}"
            if not absent:
                site.add_page(path, page(title, f * ITEMS + n))
            entries.append(FeedEntry(title, site.url + path, f"f{f}-{n}", f"Summary {f}/{n}.", now))
            now -= timedelta(minutes=1)
        site.add_feed(f"/f{f}.xml", rss_feed(f"Desk {f}", entries, link=site.url))
    return missing


def test_a_healthy_run_of_a_dozen_feeds_logs_a_line_per_poll_match_and_alert(
    tmp_path: Path,
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    with NewsSite() as site:
        missing = newsroom(site)
        feeds = "\n".join(
            f'  - {{name: "Desk {f}", url: "{site.url}/f{f}.xml"}}' for f in range(FEEDS)
        )
        (tmp_path / "feeds.yaml").write_text(
            "defaults: {interval: 5m, timeout: 10s, extract: true,"
            " allow_networks: [127.0.0.0/8]}\nfeeds:\n" + feeds + "\n"
        )
        (tmp_path / "rules.yaml").write_text(
            textwrap.dedent(
                f"""\
                channels:
                  log: {{type: file, path: "{alerts}"}}
                rules:
                  - {{name: tehran, query: Tehran, channels: [log]}}
                """
            )
        )
        env = dict(os.environ, MONITOR_DB=str(tmp_path / "m.db"), PYTHONPATH=str(ROOT))
        env.pop("JOURNAL_STREAM", None)
        command = ["run", "--once", "--log-level", "DEBUG", "--config-dir", str(tmp_path)]
        result = subprocess.run(
            [sys.executable, "-m", "monitor", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = events(result.stdout + result.stderr)
    sent = len(alerts.read_text().splitlines())
    assert sent == FEEDS  # one story per feed matched, one alert each

    # the detail is there, one level down: every missing page, every item read
    assert count(lines, "debug", "article_not_fetched") == missing == FEEDS * ITEMS // 2
    info = collections.Counter(ev for lv, ev, _ in lines if lv == "info")
    assert info["feed_polled"] == FEEDS
    assert info["rule_matched"] == FEEDS
    assert info["alert_sent"] == sent
    lifecycle = {ev: n for ev, n in info.items() if ev not in ROUTINE}
    assert all(n == 1 for n in lifecycle.values()), lifecycle  # start, stop: once a run
    assert sum(info.values()) <= FEEDS + FEEDS + sent + len(lifecycle) <= 3 * FEEDS + 5
    assert [line for lv, _, line in lines if lv not in ("debug", "info")] == []


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The service's log lines at DEBUG, in a buffer (structlog is global: reset after)."""
    buffer = io.StringIO()
    setup_logging("DEBUG", stream=buffer)
    yield buffer
    structlog.reset_defaults()


def run_polls(
    db_url: str,
    feed: FeedConfig,
    clock: Clock,
    *,
    polls: int,
    rules: tuple[RuleConfig, ...] = (),
    channels: dict[str, ChannelConfig] | None = None,
    deliver_at: tuple[float, ...] = (),
    before_delivery: Callable[[int], None] = lambda n: None,
) -> None:
    """`polls` polls of `feed`, a day apart (past any backoff), then, by one outbox worker,
    deliveries at each of `deliver_at` (seconds after the last poll), each after
    `before_delivery(its index)`."""
    channels = channels or {}
    entities = {"iran": EntityConfig("iran", ("Iran", "Tehran"))}
    store = open_store(db_url)

    async def main() -> None:
        fetcher = Fetcher()
        pool = CpuPool(1, (load_rules, (list(rules), entities)))
        await pool.start()
        pipeline = Pipeline(
            store, fetcher, Rules({r.name: r for r in rules}, channels), pool, clock=clock
        )
        worker = OutboxWorker(
            store, {n: build_notifier(c) for n, c in channels.items()}, clock=clock
        )
        try:
            for _ in range(polls):
                clock.now += DAY + 3600
                await poll_feeds(pipeline, [feed], notices=Notices(store, None, clock), clock=clock)
            start = clock.now
            for n, later in enumerate(deliver_at):
                before_delivery(n)
                clock.now = start + later
                await worker.drain()
        finally:
            await pool.close()
            await fetcher.aclose()
            for notifier in worker.notifiers.values():
                await notifier.aclose()

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_failing_feed_warns_once_per_streak_and_says_when_it_recovers(
    db_url: str, logs: io.StringIO
) -> None:
    clock = Clock()
    with NewsSite() as site:
        feed = FeedConfig(
            name="Wire", url=site.url + "/f.xml", interval=300, timeout=5, extract=False
        )
        site.put("/f.xml", Resource(b"busy", "text/plain", status=503))
        run_polls(db_url, feed, clock, polls=5)
        site.add_feed("/f.xml", rss_feed("Wire", [FeedEntry("Calm", "https://example.org/1")]))
        run_polls(db_url, feed, clock, polls=1)
        first = events(logs.getvalue())
        site.put("/f.xml", Resource(b"busy again", "text/plain", status=503))
        run_polls(db_url, feed, clock, polls=2)
    again = events(logs.getvalue())[len(first) :]

    assert count(first, "warning", "feed_failed") == 1
    debug = [line for lv, ev, line in first if (lv, ev) == ("debug", "feed_failed")]
    assert [re.search(r"failures=(\d+)", line)[1] for line in debug] == ["2", "3", "4", "5"]  # type: ignore[index]
    recovered = [line for lv, ev, line in first if (lv, ev) == ("info", "feed_recovered")]
    assert len(recovered) == 1 and "failures=5" in recovered[0]
    assert [lv for lv, ev, _ in first if ev.startswith("feed_") and lv == "warning"] == ["warning"]
    # a new streak is news again: one warning, then the count
    assert count(again, "warning", "feed_failed") == 1
    assert count(again, "debug", "feed_failed") == 1


def test_a_failing_channel_warns_at_its_first_retry_and_says_when_it_recovers(
    db_url: str, logs: io.StringIO
) -> None:
    clock = Clock()
    with NewsSite() as site, WebhookReceiver() as hook:
        published = datetime.fromtimestamp(clock.now, UTC) + timedelta(days=1)
        stories = [
            FeedEntry(f"Tehran story {n}", f"https://example.org/{n}", f"g{n}", "", published)
            for n in range(4)
        ]
        site.add_feed("/f.xml", rss_feed("Wire", stories))
        feed = FeedConfig(
            name="Wire", url=site.url + "/f.xml", interval=300, timeout=5, extract=False
        )
        channel = WebhookChannel(name="hook", url=hook.url, timeout=5)
        rule = RuleConfig("iran", "@iran", channels=("hook",))
        hook.down()
        run_polls(
            db_url,
            feed,
            clock,
            polls=1,
            rules=(rule,),
            channels={"hook": channel},
            # every alert's first attempt, its retry (5 s later), then the receiver is back
            deliver_at=(0, 60, 600),
            before_delivery=lambda n: hook.up() if n == 2 else None,
        )
        received = len(hook.requests)
    lines = events(logs.getvalue())

    failures = 2 * len(stories)
    assert count(lines, "warning", "delivery_retry") == 1
    assert count(lines, "debug", "delivery_retry") == failures - 1
    assert count(lines, "info", "delivery_retry") == 0
    assert received == len(stories)
    assert count(lines, "info", "alert_sent") == len(stories)
    recovered = [line for lv, ev, line in lines if (lv, ev) == ("info", "channel_recovered")]
    assert len(recovered) == 1 and f"failures={failures}" in recovered[0]
