"""The whole corpus polled with one passthrough rule (`query: '*'`), as the acceptance run does:
the alerts and their `sources` account for every (feed, item) pair exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from monitor.fetch import Fetcher
from monitor.models import FeedConfig, RuleConfig
from monitor.parse import parse_feed
from monitor.pipeline import Pipeline, Rules
from monitor.store import open_store
from monitor.tasks import load_rules
from monitor.workers import CpuPool
from tests.ingest.test_corpus_counts import CORPUS, FEEDS, NOT_A_FEED
from tests.support.polling import poll_feeds
from tests.support.site import NewsSite, Resource

RULE = RuleConfig("everything", "*", channels=("desk",))
TYPES = {".json": "application/feed+json", ".atom": "application/atom+xml"}


def expected_pairs() -> Counter[str]:
    """Distinct items per feed, as the parser reads them (a repeated GUID is one item)."""
    counts: Counter[str] = Counter()
    for name in CORPUS:
        if name in NOT_A_FEED:
            continue
        url = f"http://corpus.example/{name}"
        items = parse_feed((FEEDS / name).read_bytes(), feed=name, url=url).items
        counts[name] = len({i.key for i in items})
    return counts


def test_every_feed_item_pair_is_in_exactly_one_alert(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    with NewsSite() as site:
        feeds = []
        for name in CORPUS:
            body = (FEEDS / name).read_bytes()
            kind = TYPES.get(Path(name).suffix, "application/rss+xml")
            url = site.put("/" + name, Resource(body, kind))
            feeds.append(
                FeedConfig(
                    name=name, url=url, interval=300, timeout=10, extract=False, max_age=None
                )
            )

        async def main() -> None:
            fetcher = Fetcher()
            pool = CpuPool(2, (load_rules, ((RULE,), {})))
            await pool.start()
            pipeline = Pipeline(store, fetcher, Rules({RULE.name: RULE}), pool)
            try:
                half = len(feeds) // 2
                await poll_feeds(pipeline, feeds[:half])
                # what is queued so far goes out before the other half is read
                pending = [r.alert.id for r in store.outbox("pending", limit=100_000)]
                store.mark_sent(pending, now=time.time(), status_code=200)
                await poll_feeds(pipeline, feeds[half:])
            finally:
                await pool.close()
                await fetcher.aclose()

        asyncio.run(main())
    alerts = store.outbox(limit=100_000)
    accounted = Counter(source for row in alerts for source in row.alert.sources)
    expected = expected_pairs()
    assert sum(expected.values()) > 1300
    assert accounted == expected
    assert all(row.alert.rules[0].name == "everything" for row in alerts)
