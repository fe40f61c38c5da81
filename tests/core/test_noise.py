"""Noise control and operator notices, end to end with real receivers and a moved clock.

Each test asserts the exact messages a receiver got: digests, rate-limit summaries, and
notices about failing and recovered feeds and channels.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config.values import DigestSchedule
from monitor.deliver import build_notifier
from monitor.fetch import Fetcher
from monitor.models import (
    UTC_ZONE,
    ChannelConfig,
    EntityConfig,
    FeedConfig,
    FileChannel,
    RateLimit,
    RuleConfig,
    WebhookChannel,
)
from monitor.notices import Notices, on_failure, on_success
from monitor.outbox import OutboxWorker
from monitor.pipeline import Pipeline, Rules
from monitor.store import NoticeState, open_store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.support.polling import poll_feeds
from tests.support.receivers import WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

T0 = datetime(2026, 11, 21, 9, 17, tzinfo=UTC).timestamp()
ENTITIES = {"iran": EntityConfig("iran", ("Iran", "Tehran"))}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def entries(count: int) -> list[FeedEntry]:
    return [
        FeedEntry(f"Tehran story {n}", f"https://example.org/{n}", f"g{n}", f"Iran said {n}.")
        for n in range(count)
    ]


class Room:
    """A feed on a local site, one webhook channel, an operator file channel."""

    def __init__(
        self, tmp: Path, db: str, site: NewsSite, hook: WebhookReceiver, clock: Clock
    ) -> None:
        self.tmp, self.site, self.hook, self.clock = tmp, site, hook, clock
        self.store = open_store(db)
        self.ops_file = tmp / "ops.jsonl"
        self.feed = FeedConfig(
            name="Wire", url=site.url + "/f.xml", interval=300, timeout=5, extract=False
        )

    def run(self, rules: list[RuleConfig], channel: ChannelConfig, *, polls: int = 1) -> None:
        ops = FileChannel(name="ops", path=self.ops_file)
        channels = {channel.name: channel, "ops": ops}

        async def main() -> None:
            fetcher = Fetcher()
            notices = Notices(self.store, "ops", self.clock)
            rule_set = Rules({r.name: r for r in rules}, channels)
            pool = CpuPool(1, (load_rules, (rules, ENTITIES)))
            await pool.start()
            pipeline = Pipeline(self.store, fetcher, rule_set, pool, clock=self.clock)
            worker = OutboxWorker(
                self.store,
                {n: build_notifier(c) for n, c in channels.items()},
                clock=self.clock,
                notices=notices,
            )
            try:
                for _ in range(polls):
                    await poll_feeds(pipeline, [self.feed], notices=notices, clock=self.clock)
                await worker.drain()
            finally:
                await pool.close()
                await fetcher.aclose()
                for n in worker.notifiers.values():
                    await n.aclose()

        asyncio.run(main())

    def deliver(self, channel: ChannelConfig) -> None:
        self.run([], channel, polls=0)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.hook.requests]

    def notices(self) -> list[str]:
        if not self.ops_file.exists():
            return []
        return [json.loads(line)["message"] for line in self.ops_file.read_text().splitlines()]


@pytest.fixture
def room(tmp_path: Path, db_url: str) -> Any:
    with NewsSite() as site, WebhookReceiver() as hook:
        room = Room(tmp_path, db_url, site, hook, Clock())
        yield room
        room.store.close()


def hook_channel(room: Room, **kw: Any) -> ChannelConfig:
    return WebhookChannel(name="hook", url=room.hook.url, **kw)


def test_digest_sends_one_message_on_the_hour(room: Room) -> None:
    room.site.add_feed("/f.xml", rss_feed("Wire", entries(3)))
    channel = hook_channel(room, digest=DigestSchedule.parse("1h", UTC_ZONE))
    rule = RuleConfig("iran", "@iran", channels=("hook",))
    room.run([rule], channel)
    assert room.hook.requests == []  # 09:17: nothing until the digest at 10:00
    room.clock.now = datetime(2026, 11, 21, 9, 59, 59, tzinfo=UTC).timestamp()
    room.deliver(channel)
    assert room.hook.requests == []
    room.clock.now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
    room.deliver(channel)
    (digest,) = room.payloads()
    assert digest["type"] == "digest" and digest["count"] == 3
    titles = [a["article"]["title"] for a in digest["alerts"]]
    assert titles == ["Tehran story 2", "Tehran story 1", "Tehran story 0"]  # oldest item first
    assert room.hook.requests[0].headers["webhook-id"] == digest["id"]
    assert digest["id"].startswith("bat_")
    room.deliver(channel)
    assert len(room.hook.requests) == 1


def test_rule_over_its_limit_rolls_the_rest_into_one_summary(room: Room) -> None:
    room.site.add_feed("/f.xml", rss_feed("Wire", entries(5)))
    channel = hook_channel(room)
    rule = RuleConfig("iran", "@iran", channels=("hook",), max_alerts=RateLimit(2, 3600))
    room.run([rule], channel)
    first = room.payloads()
    assert [p["type"] for p in first] == ["alert", "alert"]
    assert [p["article"]["title"] for p in first] == ["Tehran story 4", "Tehran story 3"]
    room.clock.now = T0 + 3599
    room.deliver(channel)
    assert len(room.hook.requests) == 2
    room.clock.now = T0 + 3600
    room.deliver(channel)
    summary = room.payloads()[2]
    assert (summary["type"], summary["rule"], summary["count"]) == ("summary", "iran", 3)
    assert [a["article"]["title"] for a in summary["alerts"]] == [
        "Tehran story 2",
        "Tehran story 1",
        "Tehran story 0",
    ]
    assert len(room.hook.requests) == 3  # nothing dropped, nothing repeated


def test_an_unlimited_rule_on_the_same_article_still_alerts_at_once(room: Room) -> None:
    room.site.add_feed("/f.xml", rss_feed("Wire", entries(3)))
    limited = RuleConfig("iran", "@iran", channels=("hook",), max_alerts=RateLimit(1, 3600))
    open_rule = RuleConfig("story", "story", channels=("hook",))
    room.run([limited, open_rule], hook_channel(room))
    assert [p["type"] for p in room.payloads()] == ["alert", "alert", "alert"]


def test_feed_failure_and_recovery_notices(room: Room) -> None:
    room.site.put("/f.xml", Resource(b"busy", "text/plain", status=503))
    channel = hook_channel(room)
    rule = RuleConfig("iran", "@iran", channels=("hook",))
    for _ in range(4):
        room.run([rule], channel)
        room.clock.now += 600
    (notice,) = room.notices()
    assert notice.startswith("Feed 'Wire' has failed 3 times in a row since 2026-11-21 09:17 UTC:")
    assert "HTTP 503" in notice
    room.site.add_feed("/f.xml", rss_feed("Wire", entries(1)))
    room.run([rule], channel)
    assert room.notices()[1:] == [
        "Feed 'Wire' is working again after 4 failures since 2026-11-21 09:17 UTC"
    ]


def test_channel_failure_notice_is_rate_limited(room: Room) -> None:
    room.site.add_feed("/f.xml", rss_feed("Wire", entries(1)))
    rule = RuleConfig("iran", "@iran", channels=("hook",))
    room.hook.down()
    channel = hook_channel(room)
    room.run([rule], channel)
    for minutes in (1, 3, 6, 20, 60):  # the alert keeps failing on its retry schedule
        room.clock.now = T0 + minutes * 60
        room.deliver(channel)
    failing = room.notices()
    assert len(failing) == 1
    assert failing[0].startswith("Channel 'hook' has failed 3 times in a row since 2026-11-21")
    room.hook.up()
    room.clock.now = T0 + 3 * 3600
    room.deliver(channel)
    assert room.notices()[1].startswith("Channel 'hook' is working again after")
    assert len(room.payloads()) == 1


@pytest.mark.parametrize(
    ("failures", "notified", "now", "expect"),
    [
        (0, None, T0, None),
        (1, None, T0, None),
        (2, None, T0, "has failed 3 times"),
        (5, T0 - 3600, T0, None),  # reported an hour ago: quiet
        (5, T0 - 6 * 3600, T0, "has failed 6 times"),  # six hours on: remind
    ],
)
def test_failure_notice_decisions(
    failures: int, notified: float | None, now: float, expect: str | None
) -> None:
    state = NoticeState("feed:x", failures, T0 - 7200 if failures else None, notified, "e")
    new, text = on_failure(state, "Feed 'x'", "HTTP 500", now)
    assert new.failures == failures + 1
    if expect is None:
        assert text is None
    else:
        assert text is not None and expect in text and text.endswith(": HTTP 500")
        assert new.notified == now


def test_recovery_notice_only_after_a_failure_notice() -> None:
    quiet = NoticeState("feed:x", 2, T0, None, "e")
    assert on_success(quiet, "Feed 'x'") == (NoticeState("feed:x"), None)
    loud = replace(quiet, failures=4, notified=T0)
    new, text = on_success(loud, "Feed 'x'")
    assert new == NoticeState("feed:x")
    assert text == "Feed 'x' is working again after 4 failures since 2026-11-21 09:17 UTC"
