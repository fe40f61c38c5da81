"""A failure stays where it happens: an item's is that item's, a feed's that feed's, and the
database's fails the poll without losing anything. Each case runs the real pipeline against
a local site; the worker's stages misbehave on marked input (tests/support/worktasks.py)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network
from pathlib import Path

import pytest

from monitor import pipeline as pipeline_module
from monitor.fetch import Fetcher
from monitor.models import EntityConfig, FeedConfig, RuleConfig
from monitor.pipeline import MAX_NEW_ITEMS, FeedReport, Pipeline, Rules
from monitor.store import Store, open_store
from monitor.workers import CpuPool
from tests.support import worktasks
from tests.support.polling import poll_feeds
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

ENTITIES = {
    "iran": EntityConfig("iran", ("Iran", "Tehran")),
    "al-qaida": EntityConfig("al-qaida", ("al-Qaida",)),
}
RULES = (RuleConfig("r", "@iran NEAR/20 @al-qaida", channels=("desk",)),)
STORY = "Tehran denied hosting al-Qaida leaders, the ministry said."


def feed(name: str, url: str, **kw: object) -> FeedConfig:
    return FeedConfig(
        name=name,
        url=url,
        interval=300,
        timeout=5,
        allow_networks=(ip_network("127.0.0.0/8"),),
        **kw,  # type: ignore[arg-type]
    )


def poll(store: Store, *feeds: FeedConfig) -> list[FeedReport]:
    async def main() -> list[FeedReport]:
        fetcher = Fetcher()
        pool = CpuPool(1, (worktasks.load_rules_poisoned, (RULES, ENTITIES)))
        await pool.start()
        pipe = Pipeline(store, fetcher, Rules({r.name: r for r in RULES}), pool)
        try:
            return await poll_feeds(pipe, feeds)
        finally:
            await pool.close()
            await fetcher.aclose()

    return asyncio.run(main())


def queued_titles(store: Store) -> list[str]:
    return sorted(r.alert.title for r in store.outbox("pending"))


def test_item_that_cannot_be_matched_is_recorded_failed_and_not_retried(store: Store) -> None:
    entries = [
        FeedEntry("Good one", "", "g1", STORY),
        FeedEntry("Poisoned", "", "p1", f"{STORY} {worktasks.POISON}"),
        FeedEntry("Good two", "", "g2", STORY),
    ]
    with NewsSite() as site:
        url = site.add_feed("/f.xml", rss_feed("F", entries))
        (first,) = poll(store, feed("F", url, extract=False))
        (second,) = poll(store, feed("F", url, extract=False))
    assert first.status == "ok" and first.failed == 1 and first.queued == 2
    assert queued_titles(store) == ["Good one", "Good two"]
    (problem,) = store.item_problems("F")
    assert (problem.item_key, problem.outcome, problem.stage) == ("id:p1", "failed", "match")
    assert "KeyError" in problem.error and "a bug in matching" in problem.error
    assert second.new == 0  # marked seen: a deterministic failure is not tried again


def test_page_whose_reading_runs_past_the_deadline_falls_back_to_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SLOW page is read for a minute (tests/support/worktasks.py), past the deadline
    # whatever the load. The rest must fit in it: the first item a fresh worker reads (the
    # fallback, after the slow page's worker is replaced) took 1.1 s on the loaded 2-core
    # machine, hence 10 s. SQLite only: the deadline is the worker pool's, not the store's.
    monkeypatch.setattr(pipeline_module, "ITEM_DEADLINE", 10.0)
    store = open_store(tmp_path / "m.db")
    with NewsSite() as site:
        slow = site.add_page("/slow", "<html><body><p>SLOW page</p></body></html>")
        fine = site.add_page(
            "/fine", f"<html><body><article><p>{STORY}</p></article></body></html>"
        )
        entries = [FeedEntry("Slow page", slow, "s", STORY), FeedEntry("Fine", fine, "f", STORY)]
        url = site.add_feed("/f.xml", rss_feed("F", entries))
        (report,) = poll(store, feed("F", url))
    assert report.status == "ok" and report.queued == 2 and report.failed == 0
    slow_alert = next(r.alert for r in store.outbox("pending") if r.alert.title == "Slow page")
    assert slow_alert.partial  # matched on the feed's own text, and says so
    (problem,) = store.item_problems("F")
    assert (problem.stage, problem.outcome) == ("extract", "partial")
    assert "deadline" in problem.error


def test_unexpected_error_in_a_feed_is_that_feeds_failure_with_its_type(store: Store) -> None:
    with NewsSite() as site:
        bad = site.add_feed(f"/{worktasks.POISON}.xml", rss_feed("B", []))
        good = site.add_feed("/g.xml", rss_feed("G", [FeedEntry("Good", "", "g", STORY)]))
        reports = poll(store, feed("Bad", bad, extract=False), feed("Good", good, extract=False))
    assert [r.status for r in reports] == ["failed", "ok"]
    state = store.feed_state("Bad")
    assert state is not None and state.consecutive_failures == 1
    assert "RecursionError" in (state.last_error or "")
    assert state.next_check is not None  # backed off
    assert queued_titles(store) == ["Good"]


def test_full_disk_fails_the_poll_and_loses_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")  # SQLite's page limit stands in for a full disk

    def long(n: int) -> str:  # each item needs new pages, and is no twin of another
        return STORY + " " + " ".join(f"w{n}x{i}" for i in range(3_000))

    entries = [FeedEntry(f"Report {n}", "", f"r{n}", long(n)) for n in range(5)]
    with NewsSite() as site:
        url = site.add_feed("/f.xml", rss_feed("F", entries))
        pages = store._query("PRAGMA page_count")[0][0]
        store._query(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        (full,) = poll(store, feed("F", url, extract=False))
        store._query("PRAGMA max_page_count = 1073741823")  # space was freed
        (freed,) = poll(store, feed("F", url, extract=False))
    assert full.status == "failed" and "disk full" in (full.error or "")
    assert freed.status == "ok" and freed.new == 5 and freed.queued == 5
    assert len(queued_titles(store)) == 5


def test_items_over_the_cap_are_read_at_the_next_poll(store: Store) -> None:
    total = MAX_NEW_ITEMS + 20
    entries = [FeedEntry(f"Report {n}", "", f"r{n}", STORY) for n in range(total)]
    with NewsSite() as site:
        url = site.add_feed("/f.xml", rss_feed("F", entries))  # answers 304 to its validators
        (first,) = poll(store, feed("F", url, extract=False))
        (second,) = poll(store, feed("F", url, extract=False))
        (third,) = poll(store, feed("F", url, extract=False))
    assert (first.new, first.queued, first.deferred) == (total, MAX_NEW_ITEMS, 20)
    assert (second.status, second.queued, second.deferred) == ("ok", 20, 0)
    assert third.status == "not_modified"  # nothing left: validators are kept again
    assert store.counts()["outbox_pending"] == total


def test_lone_surrogates_in_a_json_feed_are_replaced_not_fatal(store: Store) -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        '{"id": "a\\ud800", "title": "Tehran \\udfff denies", "content_text": "' + STORY + '"}]}'
    ).encode()
    with NewsSite() as site:
        url = site.put("/j.json", Resource(body, "application/feed+json"))
        (report,) = poll(store, feed("J", url, extract=False))
    assert report.status == "ok" and report.queued == 1 and report.failed == 0
    assert queued_titles(store) == ["Tehran \ufffd denies"]
