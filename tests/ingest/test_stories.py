"""Items and stories: two items of one feed are two stories; one story in two feeds is one
alert listing both."""

from __future__ import annotations

import asyncio
import time

from monitor.fetch import Fetcher
from monitor.models import FeedConfig, RuleConfig
from monitor.pipeline import Pipeline, Rules
from monitor.store import Store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.support.polling import poll_feeds
from tests.support.site import FeedEntry, NewsSite, rss_feed

RULES = (RuleConfig("r", "tehran", channels=("desk",)),)
# a wire story long enough for the near-duplicate sketch
STORY = " ".join(
    f"Tehran denied hosting al-Qaida leaders on day {n}, the ministry said in a statement"
    " read on state television, and officials repeated the denial to reporters."
    for n in range(8)
)


def feed(name: str, url: str) -> FeedConfig:
    return FeedConfig(name=name, url=url, interval=300, timeout=5, extract=False, max_age=None)


def poll(store: Store, *feeds: FeedConfig) -> None:
    async def main() -> None:
        fetcher = Fetcher()
        pool = CpuPool(1, (load_rules, (RULES, {})))
        await pool.start()
        try:
            await poll_feeds(Pipeline(store, fetcher, Rules({"r": RULES[0]}), pool), feeds)
        finally:
            await pool.close()
            await fetcher.aclose()

    asyncio.run(main())


def sources(store: Store) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((r.alert.title, r.alert.sources) for r in store.outbox("pending"))


def test_items_of_one_feed_with_one_link_and_different_guids_are_two_stories(
    store: Store,
) -> None:
    with NewsSite() as site:
        link = site.url + "/2017/06/21.html"
        entries = [
            FeedEntry("Morning", link, "a1", "Tehran in the morning."),
            FeedEntry("Evening", link, "a2", "Tehran in the evening."),
        ]
        poll(store, feed("F", site.add_feed("/f.xml", rss_feed("F", entries))))
    assert sources(store) == [("Evening", ("F",)), ("Morning", ("F",))]


def test_near_identical_items_of_one_feed_are_two_stories(store: Store) -> None:
    with NewsSite() as site:
        entries = [
            FeedEntry("First", site.url + "/1", "g1", STORY),
            FeedEntry("Again", site.url + "/2", "g2", STORY + " Updated."),
        ]
        poll(store, feed("F", site.add_feed("/f.xml", rss_feed("F", entries))))
    assert sources(store) == [("Again", ("F",)), ("First", ("F",))]


def test_one_story_in_two_feeds_is_one_alert_listing_both(store: Store) -> None:
    with NewsSite() as site:
        same_link = [FeedEntry("Wire", site.url + "/story", "x", "Tehran.")]
        one = site.add_feed("/1.xml", rss_feed("One", same_link))
        two = site.add_feed("/2.xml", rss_feed("Two", same_link))
        copy_one = [FeedEntry("Copy", site.url + "/a", "c1", STORY)]
        copy_two = [FeedEntry("Copy", site.url + "/b", "c2", STORY + " Updated.")]
        three = site.add_feed("/3.xml", rss_feed("Three", copy_one))
        four = site.add_feed("/4.xml", rss_feed("Four", copy_two))
        poll(store, feed("One", one), feed("Two", two), feed("Three", three), feed("Four", four))
    assert sources(store) == [("Copy", ("Three", "Four")), ("Wire", ("One", "Two"))]


def test_a_feed_that_brings_a_story_already_sent_gets_an_alert_of_its_own(store: Store) -> None:
    with NewsSite() as site:
        same_link = [FeedEntry("Wire", site.url + "/story", "x", "Tehran.")]
        one = site.add_feed("/1.xml", rss_feed("One", same_link))
        two = site.add_feed("/2.xml", rss_feed("Two", same_link))
        poll(store, feed("One", one))
        (first,) = store.outbox("pending")
        store.mark_sent([first.alert.id], now=time.time(), status_code=200)
        poll(store, feed("Two", two))
    (later,) = store.outbox("pending")
    assert later.alert.sources == ("Two",) and later.alert.id != first.alert.id
    assert later.alert.article_id == first.alert.article_id
