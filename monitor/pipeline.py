"""One poll of one feed, start to finish: the only module that knows the order of stages.

    fetch feed -> parse -> (new items only) fetch page -> extract -> match
               -> record item + matches + outbox rows (one transaction) -> wake the sender

A failing feed or article never ends a cycle: the failure is recorded on the feed's row and
logged, and the next feed goes on. Delivery is the outbox worker's job (``monitor.outbox``):
nothing here talks to a channel, so a crash between match and send loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from monitor.dedupe import MIN_SHARED, text_sketch
from monitor.deliver import alert_id
from monitor.errors import ExtractError, FetchError, ParseError
from monitor.extract import decode_html, extract_article, is_too_little
from monitor.fetch import Fetcher
from monitor.log import get_logger
from monitor.match import Matcher
from monitor.models import (
    Alert,
    AlertRule,
    ChannelConfig,
    Document,
    FeedConfig,
    Item,
    Match,
    RateLimit,
    RuleConfig,
)
from monitor.notices import Notices
from monitor.parse import canonical_url, parse_feed
from monitor.schedule import next_digest
from monitor.store import Queued, Store

log = get_logger("monitor.pipeline")

MAX_BACKOFF = 6 * 3600.0
TWIN_WINDOW = 3 * 86400.0  # how far back a near-identical article counts as the same story
ITEM_CONCURRENCY = 4


@dataclass
class FeedReport:
    """What one poll did; logged as one summary line per feed."""

    feed: str
    status: str = "ok"  # ok | not_modified | failed
    items: int = 0
    new: int = 0
    matched: int = 0
    queued: int = 0
    partial: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Rules:
    """The rules in force: the compiled matcher, each rule's settings and the channels,
    swapped as one on reload."""

    matcher: Matcher
    by_name: Mapping[str, RuleConfig]
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)


def article_id(item: Item) -> str:
    """Stable article identity: its canonical link, else the feed's own key for the item.

    Two feeds carrying the same link get the same id, so they share one alert per channel.
    """
    basis = f"url:{canonical_url(item.link)}" if item.link else f"item:{item.feed}\x1f{item.key}"
    return "art_" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:24]


def failure_backoff(interval: float, failures: int, rng: random.Random | None = None) -> float:
    """Delay before polling a failing feed again: the interval doubled per failure, capped."""
    r = rng or random
    delay = min(MAX_BACKOFF, interval * (2 ** min(failures - 1, 10)))
    return float(max(interval, delay) * (0.9 + 0.2 * r.random()))


class Pipeline:
    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        rules: Rules,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        notices: Notices | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.rules = rules
        self.clock = clock
        self.on_queued = on_queued
        self.notices = notices or Notices(store, None, clock)
        self._items = asyncio.Semaphore(ITEM_CONCURRENCY)

    def swap_rules(self, rules: Rules) -> None:
        """Replace the matcher and rule settings at once (a reload); items in flight keep theirs."""
        self.rules = rules

    async def poll_feed(self, feed: FeedConfig) -> FeedReport:
        report = FeedReport(feed.name)
        flog = log.bind(feed=feed.name)
        etag, last_modified = self.store.validators(feed.name, feed.url)
        try:
            result = await self.fetcher.fetch_feed(
                feed.url, timeout=feed.timeout, etag=etag, last_modified=last_modified
            )
            if result.not_modified:
                report.status = "not_modified"
            else:
                parsed = parse_feed(
                    result.body, feed=feed.name, url=feed.url, content_type=result.content_type
                )
                await self._process_items(feed, parsed.items, report)
        except (FetchError, ParseError) as e:
            now = self.clock()
            state = self.store.feed_state(feed.name)
            failures = (state.consecutive_failures if state else 0) + 1
            self.store.record_feed_failure(
                feed.name,
                feed.url,
                error=str(e),
                now=now,
                next_check=now + failure_backoff(feed.interval, failures),
            )
            report.status = "failed"
            report.error = str(e)
            flog.warning("feed_failed", failures=failures, error=str(e))
            self.notices.feed_failed(feed.name, str(e))
            return report
        now = self.clock()
        self.store.record_feed_success(
            feed.name,
            feed.url,
            etag=result.etag,
            last_modified=result.last_modified,
            now=now,
            next_check=now + feed.interval,
        )
        self.notices.feed_ok(feed.name)
        flog.info(
            "feed_polled",
            status=report.status,
            items=report.items,
            new=report.new,
            matched=report.matched,
            queued=report.queued,
            partial=report.partial,
        )
        if report.queued and self.on_queued:
            self.on_queued()
        return report

    async def _process_items(self, feed: FeedConfig, items: list[Item], report: FeedReport) -> None:
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        report.items = len(unique)
        new_keys = self.store.unseen(feed.name, unique)
        report.new = len(new_keys)

        async def read(item: Item) -> Document:
            async with self._items:
                return await self.build_document(feed, item)

        # pages are fetched side by side; items are matched and recorded oldest first
        # (feeds list newest first), so alerts go out in publication order. Matching is
        # CPU work (tens of ms with 100,000 rules): it runs in a thread so sends and other
        # feeds keep moving.
        items = [unique[k] for k in reversed(new_keys)]
        docs = await asyncio.gather(*(read(item) for item in items))
        for item, doc in zip(items, docs, strict=True):
            queued, matched = await asyncio.to_thread(self.record, feed, item, doc)
            report.queued += len(queued)
            report.matched += int(matched)
            report.partial += int(doc.partial)

    def record(self, feed: FeedConfig, item: Item, doc: Document) -> tuple[list[str], bool]:
        """Match one new item and record it; returns (queued alert ids, matched).

        A near-identical article seen recently under another link (the same wire story in
        two feeds) lends its id, so both share one alert per channel listing every source.
        """
        sketch = text_sketch(doc.text)
        twin = self.store.near_duplicate(
            sketch, since=self.clock() - TWIN_WINDOW, min_shared=MIN_SHARED
        )
        if twin is not None and twin != doc.id:
            log.debug("article_twin", feed=feed.name, item=item.key, article=twin)
            doc = replace(doc, id=twin)
        rules = self.rules
        matches = rules.matcher.match(doc)
        now = self.clock()
        alerts = build_alerts(doc, item, matches, rules.by_name, now=now)
        planned = [plan_delivery(a, rules, self.store, now) for a in alerts]
        evidence = [_evidence(m) for m in matches]
        queued = self.store.record_item(
            item, doc, matches, evidence, planned, now=now, sketch=sketch
        )
        for m in matches:
            log.info("rule_matched", feed=feed.name, item=item.key, rule=m.rule, article=doc.id)
        return queued, bool(matches)

    async def build_document(self, feed: FeedConfig, item: Item) -> Document:
        """The article as rules will see it: the extracted page, else the feed's own text."""
        feed_text = item.content or item.summary
        base = Document(
            id=article_id(item),
            title=item.title,
            text=feed_text,
            url=item.link,
            feed=feed.name,
            tags=frozenset(feed.tags),
            published=item.published,
        )
        if not (feed.extract and item.link):
            return base
        ilog = log.bind(feed=feed.name, item=item.key)
        try:
            page = await self.fetcher.fetch_page(
                item.link, timeout=feed.timeout, allow_networks=feed.allow_networks
            )
            html = decode_html(page.body, page.content_type)
            override = feed.extract_override
            article = extract_article(
                html,
                page.url,
                selector=override.selector if override else None,
                remove=override.remove if override else (),
            )
        except (FetchError, ExtractError) as e:
            ilog.info("article_not_fetched", error=str(e))
            return replace(base, partial=True)
        if is_too_little(article) and len(feed_text) >= len(article.text):
            ilog.info("article_too_little", chars=len(article.text))
            return replace(base, partial=True, language=article.language)
        return replace(
            base,
            title=item.title or article.title,
            text=article.text,
            language=article.language,
            published=item.published or article.published,
            url=article.canonical_url or item.link,
        )


def _evidence(m: Match) -> dict[str, Any]:
    return {
        "spans": [
            {"field": s.field, "start": s.start, "end": s.end, "text": s.text, "operand": s.operand}
            for s in m.spans
        ],
        "distances": list(m.distances),
    }


def plan_delivery(alert: Alert, rules: Rules, store: Store, now: float) -> Queued:
    """When and how `alert` goes out: now on its own, in the channel's digest, or rolled
    into a rule's summary because every rule it lists is over its `max_alerts`."""
    channel = rules.channels.get(alert.channel)
    if channel is not None and channel.digest:
        due = store.batch_due(alert.channel, "digest")
        if due is None:
            due = next_digest(channel.digest, now, channel.timezone)
        return Queued(alert, "digest", due)
    over: list[tuple[str, RateLimit]] = []
    for entry in alert.rules:
        rule = rules.by_name.get(entry.name)
        limit = rule.max_alerts if rule else None
        if limit is None:
            return Queued(alert)
        sent = store.recent_alerts(entry.name, alert.channel, since=now - limit.window)
        if sent < limit.count:
            return Queued(alert)
        over.append((entry.name, limit))
    if not over:
        return Queued(alert)
    name, limit = over[0]
    key = f"summary:{name}"
    due = store.batch_due(alert.channel, key)
    return Queued(alert, key, due if due is not None else now + limit.window)


def build_alerts(
    doc: Document,
    item: Item,
    matches: list[Match],
    rules: Mapping[str, RuleConfig],
    *,
    now: float,
) -> list[Alert]:
    """One alert per channel, listing every rule that matched and routes to that channel."""
    by_channel: dict[str, list[AlertRule]] = {}
    for m in matches:
        rule = rules.get(m.rule)
        terms = tuple(dict.fromkeys(s.text for s in m.spans))
        entry = AlertRule(
            name=m.rule,
            description=rule.description if rule else "",
            snippets=m.snippets,
            terms=terms,
        )
        for channel in m.channels:
            by_channel.setdefault(channel, []).append(entry)
    created = datetime.fromtimestamp(now, UTC)
    return [
        Alert(
            id=alert_id(doc.id, channel),
            channel=channel,
            article_id=doc.id,
            title=doc.title or item.title or (doc.url or ""),
            url=doc.url,
            source=item.feed,
            sources=(item.feed,),
            published=doc.published,
            language=doc.language,
            partial=doc.partial,
            rules=tuple(entries),
            created=created,
        )
        for channel, entries in by_channel.items()
    ]
