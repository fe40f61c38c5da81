"""The claim loop against real servers on 127.0.0.1: a full pool, per-host limits, Retry-After,
permanent redirects, 410, cache hints, unchanged documents and max_age."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.fetch import Fetcher
from monitor.models import FeedConfig, PollingConfig, RuleConfig
from monitor.notices import Notices
from monitor.pipeline import Pipeline, Rules
from monitor.poller import Poller
from monitor.store import Store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

STORY = "Tehran denied hosting al-Qaida leaders, the ministry said."
RULES = (RuleConfig("r", "tehran", channels=("desk",)),)


def feed(name: str, url: str, **kw: object) -> FeedConfig:
    fields: dict[str, object] = {"interval": 300, "timeout": 5, "extract": False}
    fields.update(kw)
    return FeedConfig(name=name, url=url, **fields)  # type: ignore[arg-type]


@asynccontextmanager
async def desk(
    store: Store, feeds: Sequence[FeedConfig], polling: PollingConfig | None = None
) -> AsyncIterator[Poller]:
    """A poller over `feeds` as the service builds it (operator notices to channel "ops")."""
    fetcher = Fetcher()
    pool = CpuPool(1, (load_rules, (RULES, {})))
    await pool.start()
    pipeline = Pipeline(store, fetcher, Rules({r.name: r for r in RULES}), pool)
    poller = Poller(
        store,
        pipeline.db,
        pipeline,
        Notices(store, "ops"),
        feeds=feeds,
        polling=polling or PollingConfig(),
    )
    await poller.sync()
    try:
        yield poller
    finally:
        await poller.stop()
        await pool.close()
        await fetcher.aclose()


async def until_all_polled(poller: Poller, store: Store, names: set[str], limit: float) -> None:
    """Run the claim loop (as the service's tick does) until every feed of `names` was polled."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await poller.claim()
        await asyncio.sleep(0.1)
        await poller.flush()
        done = {s.name for s in store.feed_states() if s.polls}
        if names <= done and not poller.in_flight:
            return
    raise AssertionError(f"not all polled within {limit}s")


def notices(store: Store) -> list[str]:
    return [r.alert.title for r in store.outbox("pending") if r.alert.kind == "notice"]


def due_now(store: Store, *names: str) -> None:
    marks = ",".join("?" * len(names))
    store._query(f"UPDATE feeds SET next_check = ? WHERE name IN ({marks})", (time.time(), *names))


def test_feeds_waiting_for_a_full_pool_are_polled_late_not_failed(store: Store) -> None:
    count = 120
    with NewsSite() as site:
        feeds = []
        for i in range(count):
            body = rss_feed(f"F{i}", [])
            url = site.put(f"/f{i}.xml", Resource(body, "application/rss+xml", delay=0.5))
            feeds.append(feed(f"F{i}", url, timeout=1))  # far less than the wait for a slot

        async def main() -> None:
            polling = PollingConfig(max_polls=10, per_host=10)
            async with desk(store, feeds, polling) as poller:
                due_now(store, *(f.name for f in feeds))  # all at once: a restart after a pause
                await until_all_polled(poller, store, {f.name for f in feeds}, 60)

        asyncio.run(main())
        peak = site.peak_in_flight
    states = store.feed_states()
    assert len(states) == count
    assert [s.name for s in states if s.consecutive_failures or s.last_status != "ok"] == []
    assert peak == 10  # the pool was full, and never over its limit
    # 120 feeds of 0.5 s through 10 slots: the last waited about 5.5 s, and that is measured
    assert max(s.last_lateness or 0 for s in states) > 4


def test_no_host_gets_more_than_per_host_polls_at_once(store: Store) -> None:
    with NewsSite() as one, NewsSite(host="127.0.0.2") as two:
        feeds = []
        for site, tag in ((one, "a"), (two, "b")):
            for i in range(12):
                body = rss_feed(f"{tag}{i}", [])
                url = site.put(f"/{i}.xml", Resource(body, "application/rss+xml", delay=0.3))
                feeds.append(feed(f"{tag}{i}", url))

        async def main() -> None:
            async with desk(store, feeds, PollingConfig(max_polls=50, per_host=2)) as poller:
                await until_all_polled(poller, store, {f.name for f in feeds}, 60)

        asyncio.run(main())
        peaks = (one.peak_in_flight, two.peak_in_flight)
    assert peaks == (2, 2)
    assert all(s.last_status == "ok" for s in store.feed_states())


def test_retry_after_pauses_the_host_not_others_and_is_no_failure(store: Store) -> None:
    with NewsSite() as site, NewsSite(host="127.0.0.2") as other:
        busy = site.put(
            "/busy.xml",
            Resource(b"slow down", "text/plain", status=429, headers={"Retry-After": "120"}),
        )
        same = site.add_feed("/same.xml", rss_feed("Same", []))
        elsewhere = other.add_feed("/else.xml", rss_feed("Else", []))
        feeds = [feed("Busy", busy), feed("Same", same), feed("Else", elsewhere)]

        async def main() -> int:
            async with desk(store, feeds) as poller:
                store._query("UPDATE feeds SET next_check = ?", (time.time() + 3600,))
                due_now(store, "Busy")
                await until_all_polled(poller, store, {"Busy"}, 20)
                due_now(store, "Same", "Else")
                await until_all_polled(poller, store, {"Busy", "Else"}, 20)
                return await poller.claim()

        started = time.time()
        assert asyncio.run(main()) == 0  # "Same" is due, but its host is paused
        assert site.requests_for("/same.xml") == []
        assert len(other.requests_for("/else.xml")) == 1
    state = store.feed_state("Busy")
    assert state is not None and state.last_status == "rate_limited"
    assert state.consecutive_failures == 0 and "429" in (state.last_error or "")
    assert state.next_check is not None
    assert started + 110 < state.next_check.timestamp() < time.time() + 130


def test_a_permanent_redirect_is_remembered_and_told_once(store: Store) -> None:
    with NewsSite() as site:
        new = site.add_feed("/new.xml", rss_feed("F", [FeedEntry("Tehran", "", "g1", STORY)]))
        old = site.put(
            "/old.xml", Resource(b"", "text/plain", status=301, headers={"Location": new})
        )
        feeds = [feed("F", old)]

        async def main() -> None:
            async with desk(store, feeds) as poller:
                await poller.poll_all()
                await poller.poll_all()
                await poller.poll_all()

        asyncio.run(main())
        assert len(site.requests_for("/old.xml")) == 1
        assert len(site.requests_for("/new.xml")) == 3
    state = store.feed_state("F")
    assert state is not None and state.moved_to == new and state.last_status == "not_modified"
    (told,) = notices(store)
    assert "moved permanently" in told and new in told


def test_a_temporary_redirect_is_followed_but_not_remembered(store: Store) -> None:
    with NewsSite() as site:
        new = site.add_feed("/new.xml", rss_feed("F", []))
        old = site.put(
            "/old.xml", Resource(b"", "text/plain", status=302, headers={"Location": new})
        )

        async def main() -> None:
            async with desk(store, [feed("F", old)]) as poller:
                await poller.poll_all()
                await poller.poll_all()

        asyncio.run(main())
        assert len(site.requests_for("/old.xml")) == 2
    state = store.feed_state("F")
    assert state is not None and state.moved_to is None and notices(store) == []


def test_a_feed_answering_410_is_no_longer_polled_and_told_once(store: Store) -> None:
    with NewsSite() as site:
        gone = site.put("/gone.xml", Resource(b"gone", "text/plain", status=410))

        async def main() -> None:
            async with desk(store, [feed("F", gone)]) as poller:
                await poller.poll_all()
                await poller.poll_all()
                due_now(store, "F")
                assert await poller.claim() == 0

        asyncio.run(main())
        assert len(site.requests_for("/gone.xml")) == 1
    state = store.feed_state("F")
    assert state is not None and state.gone and state.consecutive_failures == 0
    (told,) = notices(store)
    assert "410" in told


@pytest.mark.parametrize(
    ("headers", "bounds", "expected"),
    [
        ({"Cache-Control": "max-age=3600"}, {"max_interval": 7200.0}, 3600),
        ({"Cache-Control": "max-age=3600"}, {}, 1800),  # held to the default ceiling
        ({"Cache-Control": "max-age=10"}, {}, 300),  # never faster than the interval
        ({"Cache-Control": "max-age=10"}, {"min_interval": 30.0}, 30),
        ({"Expires": "+2400"}, {"max_interval": 7200.0}, 2400),
    ],
)
def test_cache_hints_set_the_interval_within_bounds(
    store: Store, headers: dict[str, str], bounds: dict[str, float], expected: float
) -> None:
    now = datetime.now(UTC)
    if headers.get("Expires", "").startswith("+"):
        later = now + timedelta(seconds=int(headers["Expires"][1:]))
        headers = {"Expires": format_datetime(later, usegmt=True)}
    with NewsSite() as site:
        body = rss_feed("F", [])
        url = site.put("/f.xml", Resource(body, "application/rss+xml", headers=headers))

        async def main() -> None:
            async with desk(store, [feed("F", url, **bounds)]) as poller:
                await poller.poll_all()

        asyncio.run(main())
    state = store.feed_state("F")
    assert state is not None and state.interval is not None and state.last_attempt is not None
    assert abs(state.interval - expected) <= expected * 0.02  # Expires: to the second
    assert state.next_check is not None
    wait = state.next_check.timestamp() - state.last_attempt.timestamp()
    assert expected * 0.9 <= wait <= expected * 1.05


def test_rss_ttl_sets_the_interval(store: Store) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<link>http://example.org/</link><description>d</description><ttl>60</ttl>"
        b"</channel></rss>"
    )
    with NewsSite() as site:
        url = site.add_feed("/f.xml", body)

        async def main() -> None:
            async with desk(store, [feed("F", url, max_interval=7200.0)]) as poller:
                await poller.poll_all()
                await poller.poll_all()  # a 304: the document's ttl still holds

        asyncio.run(main())
    state = store.feed_state("F")
    assert state is not None and state.last_status == "not_modified" and state.interval == 3600


def test_the_same_document_again_is_not_parsed_again(store: Store) -> None:
    with NewsSite() as site:
        body = rss_feed("F", [FeedEntry("Tehran", "", "g1", STORY)])
        url = site.put("/f.xml", Resource(body, "application/rss+xml"))  # no validators

        async def main() -> list[str]:
            async with desk(store, [feed("F", url)]) as poller:
                first = await poller.poll_all()
                second = await poller.poll_all()
            return [r.status for r in first + second] + [str(second[0].items)]

        assert asyncio.run(main()) == ["ok", "unchanged", "0"]
        assert len(site.requests_for("/f.xml")) == 2


def test_items_older_than_max_age_are_seen_and_never_alert(store: Store) -> None:
    now = datetime.now(UTC)
    entries = [
        FeedEntry("Old", "", "old", STORY + " old", now - timedelta(days=10)),
        FeedEntry("Recent", "", "recent", STORY + " recent", now - timedelta(hours=1)),
        FeedEntry("Undated", "", "undated", STORY + " undated"),
    ]
    with NewsSite() as site:
        url = site.add_feed("/f.xml", rss_feed("F", entries))
        everything = site.add_feed("/all.xml", rss_feed("All", entries))

        async def main() -> list[int]:
            feeds = [feed("F", url), feed("All", everything, max_age=None)]
            async with desk(store, feeds) as poller:
                reports = await poller.poll_all()
            return [r.old for r in reports]

        assert asyncio.run(main()) == [0, 1]  # poll_all reports in name order: All, F
    alerted = {(r.alert.title, src) for r in store.outbox("pending") for src in r.alert.sources}
    assert alerted == {
        ("Old", "All"),
        ("Recent", "All"),
        ("Recent", "F"),
        ("Undated", "All"),
        ("Undated", "F"),
    }
    assert store.unseen("F", ["id:old", "id:recent", "id:undated"]) == []
    state = store.feed_state("F")
    assert state is not None and state.new_items == 2
