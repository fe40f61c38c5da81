"""`monitor replay`: today's rules over last week's stored articles, end to end on each backend.
A live poll alerts with the old rule; a rule added afterwards is replayed (dry run first),
queued once however often the replay runs, and delivered once to a local webhook; what was
alerted before is never alerted again; --since and --rule limit what is replayed. Each step
is the real CLI against a local feed and webhook."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.models import Document, Item
from monitor.store import Store, open_store
from tests.ops.conftest import run_monitor, write_desk
from tests.support.receivers import WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]

# the wire's three stories: Iran only, oil only, both
STORIES = [
    ("Tehran talks resume in Geneva", "g1"),
    ("Oil prices climb as Rotterdam stocks fall", "g2"),
    ("Iran raises oil exports to Asia", "g3"),
]


@dataclass
class Desk:
    config: Path
    db: str
    hook: WebhookReceiver

    def monitor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_monitor(self.config, self.db, *args)

    def ok(self, *args: str) -> str:
        result = self.monitor(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def add_rules(self, *lines: str) -> None:
        with (self.config / "rules.yaml").open("a") as f:
            f.writelines(f"  - {line}\n" for line in lines)

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.hook.requests]

    def outbox_ids(self) -> set[str]:
        store = open_store(self.db, readonly=True)
        try:
            return {r.id for r in store.outbox(limit=1000)}
        finally:
            store.close()

    def age(self, title: str, days: float) -> None:
        """Make the stored article titled `title` look recorded `days` ago."""
        store = open_store(self.db)
        try:
            with store._tx() as db:  # type: ignore[attr-defined]  # a test rewinds the clock
                cur = db.execute(
                    "UPDATE articles SET created = ? WHERE title = ?",
                    (time.time() - days * 86400, title),
                )
                assert cur.rowcount == 1
        finally:
            store.close()


@pytest.fixture
def desk(tmp_path: Path, db_url: str) -> Iterator[Desk]:
    """A desk whose wire was polled once with only `iran-watch`: g1 and g3 alerted."""
    with NewsSite() as site, WebhookReceiver() as hook:
        config = tmp_path / "etc"
        config.mkdir()
        write_desk(config, f"{site.url}/wire.xml", hook.url)
        entries = [
            FeedEntry(title, f"https://x.org/{guid}", guid, summary=f"{title}. More to follow.")
            for title, guid in STORIES
        ]
        site.add_feed("/wire.xml", rss_feed("Wire", entries))
        room = Desk(config, db_url, hook)
        room.ok("run", "--once")
        live = room.delivered()
        assert sorted(a["article"]["title"] for a in live) == sorted([STORIES[0][0], STORIES[2][0]])
        yield room


def test_a_new_rule_is_replayed_over_stored_articles_queued_once_and_delivered_once(
    desk: Desk,
) -> None:
    live_ids = [r.headers["webhook-id"] for r in desk.hook.requests]
    desk.add_rules("{name: oil-watch, query: 'oil', channels: [hook]}")
    before = desk.outbox_ids()

    shown = desk.ok("replay", "--since", "7d", "--dry-run")
    assert "Oil prices climb as Rotterdam stocks fall" in shown
    assert "Iran raises oil exports to Asia" in shown
    assert "https://x.org/g2" in shown and "https://x.org/g3" in shown
    assert "[Wire]" in shown and "  hook  oil-watch  " in shown
    assert "Tehran talks resume" not in shown  # oil-watch does not match it
    assert "iran-watch" not in shown  # alerted live: not a would-be alert
    assert "\u2026Oil prices climb" in shown  # a snippet
    assert "would queue 2 alert(s) for rule 'oil-watch' to channel 'hook'" in shown
    assert "3 stored article(s)" in shown and "3 matched" in shown
    assert "2 rule alert(s) left out as alerted before" in shown
    assert desk.outbox_ids() == before  # a dry run queues nothing

    queued = desk.ok("replay", "--since", "7d")
    assert "queued 2 alert(s) for rule 'oil-watch' to channel 'hook'" in queued
    after_first = desk.outbox_ids()
    assert len(after_first - before) == 2
    again = desk.ok("replay", "--since", "7d")
    assert "queued 0 in all" in again and "queued 2" not in again
    assert desk.outbox_ids() == after_first

    desk.ok("run", "--once")
    desk.ok("run", "--once")
    replayed = desk.delivered()[len(live_ids) :]
    assert sorted(a["article"]["title"] for a in replayed) == sorted([STORIES[1][0], STORIES[2][0]])
    for alert in replayed:
        assert [r["name"] for r in alert["rules"]] == ["oil-watch"]
    ids = [r.headers["webhook-id"] for r in desk.hook.requests]
    assert len(ids) == len(set(ids)) == 4  # g3's oil alert has an id of its own
    assert set(ids[2:]) == after_first - before


def test_replay_alerts_nothing_already_alerted(desk: Desk) -> None:
    shown = desk.ok("replay", "--since", "7d", "--dry-run")
    assert "would queue 0 in all" in shown
    assert "2 rule alert(s) left out as alerted before" in shown
    before = desk.outbox_ids()
    assert "queued 0 in all" in desk.ok("replay", "--since", "7d")
    assert desk.outbox_ids() == before
    desk.ok("run", "--once")
    assert len(desk.hook.requests) == 2


def test_since_leaves_out_articles_recorded_before_it(desk: Desk) -> None:
    desk.add_rules("{name: oil-watch, query: 'oil', channels: [hook]}")
    desk.age(STORIES[1][0], days=10)
    shown = desk.ok("replay", "--since", "7d", "--dry-run")
    assert "2 stored article(s)" in shown
    assert "Rotterdam" not in shown
    assert "would queue 1 alert(s) for rule 'oil-watch'" in shown
    assert "Rotterdam" in desk.ok("replay", "--since", "11d", "--dry-run")
    desk.age(STORIES[2][0], days=3)
    recent = desk.ok("replay", "--since", "2d", "--dry-run")
    assert "1 stored article(s)" in recent and "would queue 0 in all" in recent
    desk.ok("replay", "--since", "2d")
    assert "queued 2 alert(s) for rule 'oil-watch'" in desk.ok("replay", "--since", "30d")


def test_rule_replays_one_rule_and_an_unknown_name_says_the_closest(desk: Desk) -> None:
    desk.add_rules(
        "{name: oil-watch, query: 'oil', channels: [hook]}",
        "{name: rotterdam-watch, query: 'Rotterdam', channels: [hook]}",
    )
    shown = desk.ok("replay", "--since", "7d", "--rule", "rotterdam-watch")
    assert "queued 1 alert(s) for rule 'rotterdam-watch' to channel 'hook'" in shown
    assert "oil-watch" not in shown
    desk.ok("run", "--once")
    (replayed,) = desk.delivered()[2:]
    assert [r["name"] for r in replayed["rules"]] == ["rotterdam-watch"]

    wrong = desk.monitor("replay", "--since", "7d", "--rule", "oil-wach")
    assert wrong.returncode == 1
    assert "no rule named 'oil-wach'" in wrong.stderr and "did you mean 'oil-watch'" in wrong.stderr
    # oil-watch on its own later: g2 (whose rotterdam alert went out) and g3 get one each
    assert "queued 2 alert(s) for rule 'oil-watch'" in desk.ok(
        "replay", "--since", "7d", "--rule", "oil-watch"
    )


def test_a_muted_rule_is_not_replayed_and_the_replay_says_so(desk: Desk) -> None:
    desk.add_rules("{name: oil-watch, query: 'oil', channels: [hook]}")
    desk.ok("mute", "oil-watch", "--for", "2h")
    shown = desk.ok("replay", "--since", "7d")
    assert "rule 'oil-watch' is muted until" in shown and "not replayed" in shown
    assert "queued 0 in all" in shown
    desk.ok("unmute", "oil-watch")
    assert "queued 2 alert(s) for rule 'oil-watch'" in desk.ok("replay", "--since", "7d")


def test_a_bad_since_is_a_usage_error(desk: Desk) -> None:
    bad = desk.monitor("replay", "--since", "last week")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_articles_are_read_a_page_at_a_time_each_once_within_the_window(store: Store) -> None:
    now = 1_800_000_000.0
    for n in range(1203):
        created = now - (n % 3) * 86400.0 * 4  # 0, 4 and 8 days old
        item = Item(key=f"k{n}", feed="Wire", title=f"T{n}", link=f"https://x.org/{n}")
        doc = Document(id=f"art_{n:05d}", title=f"T{n}", text="body", url=item.link)
        store.record_item(item, doc, [], [], [], now=created)
    seen: list[str] = []
    after = ""
    pages = 0
    while page := store.articles_since(now - 7 * 86400.0, until=now, limit=200, after_id=after):
        assert len(page) <= 200
        pages += 1
        seen += [a.doc.id for a in page]
        after = page[-1].doc.id
    within = [f"art_{n:05d}" for n in range(1203) if n % 3 != 2]
    assert seen == within and pages == 5
    first = store.articles_since(now - 86400.0, until=now, limit=1)[0]
    assert first.doc.feed == "Wire" and first.doc.url == "https://x.org/0"
    assert first.created == now


def test_replayed_alerts_follow_the_noise_policy_of_live_ones(store: Store, tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.replay import replay

    (tmp_path / "feeds.yaml").write_text('feeds:\n  - {name: Wire, url: "http://127.0.0.1:9/w"}\n')
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent(
            """\
            channels:
              hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
              daily: {type: file, path: alerts.jsonl, digest: 1h}
            rules:
              - {name: oil-watch, query: 'oil', channels: [hook, daily], max_alerts: 1/d}
            """
        )
    )
    config = load_config(tmp_path)
    now = time.time()
    for n in range(3):
        item = Item(key=f"k{n}", feed="Wire", title=f"Oil story {n}", link=f"https://x.org/{n}")
        doc = Document(id=f"art_{n}", title=item.title, text="Oil rose.", url=item.link)
        store.record_item(item, doc, [], [], [], now=now - 3600)

    report = replay(store, config, since=now - 86400, now=now)
    assert report.alerts == {("oil-watch", "hook"): 3, ("oil-watch", "daily"): 3}
    batches = sorted((r.channel, r.batch or "") for r in store.outbox("pending"))
    assert batches == [
        ("daily", "digest"),
        ("daily", "digest"),
        ("daily", "digest"),
        ("hook", ""),  # the first goes out on its own; the rest wait for the summary
        ("hook", "summary:oil-watch"),
        ("hook", "summary:oil-watch"),
    ]
    assert sum(replay(store, config, since=now - 86400, now=now).alerts.values()) == 0
