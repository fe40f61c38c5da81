"""One poll, stage by stage, against a real site on 127.0.0.1 and the real matcher."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from ipaddress import ip_network

import pytest

from monitor.addresses import IPNetwork
from monitor.cadence import failure_backoff
from monitor.fetch import Fetcher
from monitor.models import EntityConfig, FeedConfig, RuleConfig
from monitor.pipeline import Pipeline, Rules
from monitor.store import Store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.support.newsroom import article_page, load_story
from tests.support.polling import poll_feeds
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

ENTITIES = {
    "iran": EntityConfig("iran", ("Iran", "Tehran")),
    "al-qaida": EntityConfig("al-qaida", ("al-Qaida", "al-Qaeda"), ("AQ",)),
}
RULES = (RuleConfig("iran-al-qaida", "@iran NEAR/20 @al-qaida", channels=("desk",)),)
SUMMARY = "Tehran denied hosting al-Qaida leaders, the ministry said."
LOOPBACK = (ip_network("127.0.0.0/8"),)


def feed(
    name: str, url: str, *, allow: tuple[IPNetwork, ...] = LOOPBACK, **kw: object
) -> FeedConfig:
    return FeedConfig(name=name, url=url, interval=300, timeout=5, allow_networks=allow, **kw)  # type: ignore[arg-type]


def poll(store: Store, *feeds: FeedConfig) -> list[object]:
    async def main() -> list[object]:
        fetcher = Fetcher()
        pool = CpuPool(1, (load_rules, (RULES, ENTITIES)))
        await pool.start()
        pipeline = Pipeline(store, fetcher, Rules({r.name: r for r in RULES}), pool)
        try:
            return list(await poll_feeds(pipeline, feeds))
        finally:
            await pool.close()
            await fetcher.aclose()

    return asyncio.run(main())


def pending(store: Store) -> list[dict[str, object]]:
    return [r.alert.to_dict() for r in store.outbox("pending")]


@pytest.mark.parametrize(
    "link",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/story", "http://[::1]/x"],
)
def test_hostile_links_are_never_fetched(store: Store, link: str) -> None:
    with NewsSite() as site:
        link = link.format(port=site.port)
        site.add_page("/story", "<p>internal admin page</p>")
        url = site.add_feed("/f.xml", rss_feed("F", [FeedEntry("Report", link, "g1", SUMMARY)]))
        (report,) = poll(store, feed("F", url, allow=()))
        assert site.requests_for("/story") == []
    assert report.new == 1 and report.partial == 1  # type: ignore[attr-defined]
    (alert,) = pending(store)
    assert alert["partial"] is True  # matched on the feed's own summary, and says so


def test_page_with_too_little_text_falls_back_to_the_feed(store: Store) -> None:
    with NewsSite() as site:
        link = site.add_page("/wall", "<html><body><p>Please accept cookies.</p></body></html>")
        url = site.add_feed("/f.xml", rss_feed("F", [FeedEntry("Report", link, "g1", SUMMARY)]))
        poll(store, feed("F", url))
        assert len(site.requests_for("/wall")) == 1
    (alert,) = pending(store)
    assert alert["partial"] is True


def test_extracted_page_is_matched_not_the_summary(store: Store) -> None:
    story = load_story("iran-rejects-al-qaeda-ties")
    with NewsSite() as site:
        link = site.add_page("/story", article_page(story))
        entries = [FeedEntry(story.title, link, "g1", "A teaser that names nobody.")]
        url = site.add_feed("/f.xml", rss_feed("F", entries))
        poll(store, feed("F", url))
    (alert,) = pending(store)
    assert alert["partial"] is False and alert["title"] == story.title


def test_failing_and_malformed_feeds_do_not_stop_the_cycle(store: Store) -> None:
    with NewsSite() as site:
        broken = site.put("/500", Resource(b"oops", "text/plain", status=500))
        html = site.add_page("/not-a-feed", "<html><body>Welcome</body></html>")
        good = site.add_feed(
            "/ok.xml", rss_feed("F", [FeedEntry("R", site.url + "/none", "g1", SUMMARY)])
        )
        reports = poll(store, feed("A", broken), feed("B", html), feed("C", good))
    assert [r.status for r in reports] == ["failed", "failed", "ok"]  # type: ignore[attr-defined]
    a, b = store.feed_state("A"), store.feed_state("B")
    assert a is not None and a.consecutive_failures == 1 and "HTTP 500" in (a.last_error or "")
    assert b is not None and "not an RSS, Atom or JSON feed" in (b.last_error or "")
    assert len(pending(store)) == 1


def test_same_story_through_two_feeds_is_one_alert_listing_both(store: Store) -> None:
    story = load_story("pompeo-iran-al-qaida-debate")
    with NewsSite() as site:
        link = site.add_page("/story", article_page(story))
        one = site.add_feed("/1.xml", rss_feed("One", [FeedEntry(story.title, link, "a")]))
        two = site.add_feed(
            "/2.xml", rss_feed("Two", [FeedEntry(story.title, link + "?utm_source=x", "b")])
        )
        poll(store, feed("Wire One", one), feed("Wire Two", two))
    (alert,) = pending(store)
    assert alert["sources"] == ["Wire One", "Wire Two"]


def test_failure_backoff_doubles_and_is_capped_at_a_day() -> None:
    import random

    rng = random.Random(1)
    delays = [failure_backoff(300, n, rng) for n in (1, 2, 3, 10, 30)]
    assert 270 <= delays[0] <= 300 and 540 <= delays[1] <= 600 and 1080 <= delays[2] <= 1200
    assert 0.9 * 86400 <= delays[3] <= 86400 and 0.9 * 86400 <= delays[4] <= 86400


def test_near_identical_text_under_another_link_is_one_alert(store: Store) -> None:
    story = load_story("iran-rejects-al-qaeda-ties")
    # the same wire copy on another site: another link, headline, byline and footer
    copy = replace(
        story,
        title="Tehran dismisses Pompeo's al-Qaeda claims",
        paragraphs=(
            "By Wire Staff",
            *story.paragraphs,
            "Copyright 2021 Wire. All rights reserved.",
        ),
    )
    other = load_story("pompeo-iran-al-qaida-debate")
    with NewsSite() as site:
        a = site.add_page("/a", article_page(story))
        b = site.add_page("/b/copy", article_page(copy))
        c = site.add_page("/c", article_page(other))
        one = site.add_feed("/1.xml", rss_feed("One", [FeedEntry(story.title, a, "a")]))
        two = site.add_feed(
            "/2.xml",
            rss_feed("Two", [FeedEntry(copy.title, b, "b"), FeedEntry(other.title, c, "c")]),
        )
        poll(store, feed("Wire One", one), feed("Wire Two", two))
    alerts = pending(store)
    assert sorted(a["sources"] for a in alerts) == [["Wire One", "Wire Two"], ["Wire Two"]]


def test_sketches_tell_copies_from_other_stories() -> None:
    from monitor.dedupe import MIN_SHARED, text_sketch

    text = " ".join(load_story("pompeo-iran-al-qaida-debate").paragraphs)
    edited = "UPDATED: " + text.replace("Pompeo said", "Pompeo told VOA", 1) + " Reporting by VOA."
    other = " ".join(load_story("iran-rejects-al-qaeda-ties").paragraphs)
    same = len(set(text_sketch(text)) & set(text_sketch(edited)))
    different = len(set(text_sketch(text)) & set(text_sketch(other)))
    assert same >= MIN_SHARED > different
    assert text_sketch("too short to judge") == []


def test_feed_behind_basic_auth_gets_its_credentials_and_pages_do_not(store: Store) -> None:
    with NewsSite() as site:
        link = site.add_page("/story", f"<html><body><p>{SUMMARY}</p></body></html>")
        url = site.add_feed("/private.xml", rss_feed("P", [FeedEntry("R", link, "g1", SUMMARY)]))
        poll(store, feed("P", url, auth=("desk", "s3cret-pass")))
        (feed_request,) = site.requests_for("/private.xml")
        (page_request,) = site.requests_for("/story")
    expected = "Basic " + base64.b64encode(b"desk:s3cret-pass").decode()
    assert feed_request.headers.get("authorization") == expected
    assert "authorization" not in page_request.headers  # only the feed's own URL gets them
