"""One poll of one feed, start to finish: the only module that knows the order of stages.

    fetch feed -> parse (worker) -> new items only, capped per poll
      -> per item, side by side: fetch page -> extract + match (worker)
      -> record item + matches + outbox rows (one transaction) -> wake the sender

Failures stay where they happen:

- An item's failure is that item's: a page that cannot be fetched or read, or whose reading
  runs past its deadline, is replaced by the feed's own text (the alert says *partial*); an
  item that cannot even be matched is recorded as failed and marked seen, since parsing,
  extraction and matching are deterministic and a retry would fail the same way. Either
  way the problem is recorded for `monitor status` and logged once.
- A feed's failure is that feed's: any exception in its poll is recorded on its row with
  its type, the feed backs off, and the operator gets a notice; other feeds go on.
- A database failure (a full disk, a lock held too long) fails the poll without recording
  anything half-way: the items stay unseen and are read again at the next poll.

Work is bounded per poll: at most `MAX_NEW_ITEMS` new items and `MAX_PAGE_FETCHES` page
fetches (the rest wait for the next poll), at most `PAGES_PER_FEED` pages of one feed in
flight and `PAGES_IN_FLIGHT` in all, so one feed's slow links never delay another feed's
alerts. Items are recorded as each finishes. Delivery is the outbox worker's job
(``monitor.outbox``): nothing here talks to a channel, so a crash between match and send
loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from monitor.dedupe import MIN_SHARED
from monitor.deliver import alert_id
from monitor.errors import FetchError, MonitorError, StorageError, WorkerError
from monitor.fetch import Fetcher
from monitor.log import get_logger
from monitor.match.matcher import MAX_TEXT_CHARS
from monitor.metrics import Metrics
from monitor.models import (
    Alert,
    AlertRule,
    ChannelConfig,
    Claim,
    Document,
    FeedConfig,
    Item,
    Match,
    ParsedFeed,
    RateLimit,
    RuleConfig,
)
from monitor.parse import canonical_url, parse_feed
from monitor.redact import redact
from monitor.store import ItemStore, NoiseView, Queued, StoreThread
from monitor.tasks import ItemResult, Page, read_and_match
from monitor.workers import CpuPool

log = get_logger("monitor.pipeline")

TWIN_WINDOW = 3 * 86400.0  # how far back a near-identical article counts as the same story
MAX_NEW_ITEMS = 100  # new items read in one poll of one feed; the rest at the next poll
MAX_PAGE_FETCHES = 30  # article pages fetched in one poll of one feed; the rest next poll
BACKLOG_DELAY = 10.0  # seconds before a poll that left new items over the caps reads the rest
PAGES_PER_FEED = 4  # pages of one feed fetched at the same time
PAGES_IN_FLIGHT = 16  # pages fetched at the same time, all feeds together
PARSE_DEADLINE = 30.0  # seconds of CPU for parsing one feed document in a worker
ITEM_DEADLINE = 20.0  # seconds for extracting and matching one item in a worker
LATE_NOTED = 10.0  # a poll that started this many seconds late is logged even if it was routine


@dataclass
class FeedReport:
    """What one poll did; logged as one summary line per feed."""

    feed: str
    started: float = 0.0  # when its request started (Unix seconds)
    late: float = 0.0  # seconds the request started after the feed was due
    status: str = "ok"  # ok | not_modified | unchanged | failed | rate_limited | gone
    items: int = 0
    new: int = 0
    old: int = 0  # new to us, but published before the feed's max_age: seen, not read
    matched: int = 0
    queued: int = 0
    partial: int = 0
    failed: int = 0  # items that could not be matched at all (recorded, marked seen)
    deferred: int = 0  # new items left for the next poll (over the per-poll caps)
    cut: int = 0  # entries past the per-document cap, never read
    skipped: int = 0  # entries that could not be read at all
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    moved_to: str | None = None  # a permanent redirect to a URL not polled before
    max_age: float | None = None  # the server's hints for the next poll, in seconds
    ttl: float | None = None
    retry_after: float | None = None


class Turn:
    """A poll's place among the polls in flight, entered for the whole poll. `request_done`
    is called once the feed's own request is over, so that a limit on requests to its host
    is not held while the document is parsed and its items read. This one waits for nothing
    (a poll on its own); `monitor.poller` has the real limits."""

    async def __aenter__(self) -> Turn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def request_done(self) -> None:
        return None


@dataclass(frozen=True)
class Rules:
    """The rule settings and channels in force, swapped as one on reload. The compiled
    rules themselves live in the worker processes (`monitor.tasks`)."""

    by_name: Mapping[str, RuleConfig]
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)


def article_id(item: Item) -> str:
    """Stable article identity: its canonical link, else the feed's own key for the item.

    Two feeds carrying the same link get the same id, so they share one alert per channel.
    """
    return _hashed(f"url:{canonical_url(item.link)}" if item.link else _own_basis(item))


def own_article_id(item: Item) -> str:
    """The id of an item that is a story of its own whatever its link says: one of two items
    of one feed with different keys and the same link."""
    return _hashed(_own_basis(item))


def _own_basis(item: Item) -> str:
    return f"item:{item.feed}\x1f{item.key}"


def _hashed(basis: str) -> str:
    return "art_" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:24]


def describe(error: BaseException) -> str:
    """An error as the operator reads it (type included when it is not one of ours), with
    credentials removed: this text is logged, stored and shown by `monitor status`."""
    text = str(error) if isinstance(error, MonitorError) else f"{type(error).__name__}: {error}"
    return redact(text.rstrip(": ") or type(error).__name__)


def take_for_poll(feed: FeedConfig, new: list[Item]) -> list[Item]:
    """The new items (oldest first) this poll reads: at most MAX_NEW_ITEMS, and no more
    than MAX_PAGE_FETCHES of them with a page to fetch; the rest wait for the next poll."""
    taken: list[Item] = []
    fetches = 0
    for item in new[:MAX_NEW_ITEMS]:
        if feed.extract and item.link:
            if fetches == MAX_PAGE_FETCHES:
                break
            fetches += 1
        taken.append(item)
    return taken


class Pipeline:
    def __init__(
        self,
        store: ItemStore,
        fetcher: Fetcher,
        rules: Rules,
        pool: CpuPool,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        db: StoreThread | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.fetcher = fetcher
        self.rules = rules
        self.pool = pool
        self.clock = clock
        self.on_queued = on_queued
        self.db = db or StoreThread()
        self._pages = asyncio.Semaphore(PAGES_IN_FLIGHT)

    def swap_rules(self, rules: Rules) -> None:
        """Replace the rule settings (a reload); items in flight keep theirs."""
        self.rules = rules

    async def poll_feed(
        self, feed: FeedConfig, claim: Claim, turn: Turn | None = None
    ) -> FeedReport:
        """Poll one claimed feed when `turn` lets it. Never raises (but for cancellation):
        whatever goes wrong is this feed's failure, in the report. What the poll leaves in
        the feed's row (the schedule, validators, health) is the caller's to write
        (`monitor.poller`)."""
        report = FeedReport(feed.name)
        turn = turn or Turn()
        try:
            async with turn:
                report.started = self.clock()
                report.late = max(0.0, report.started - claim.due)
                await self._poll(feed, claim, report, turn)
        except Exception as e:  # the backstop: any failure of this feed is this feed's only
            self._feed_failed(feed, claim, report, e)
            return report
        # a poll that found nothing new is routine: 10,000 feeds would log 30 lines a second
        quiet = report.status in ("not_modified", "unchanged") or (
            report.new == 0 and report.skipped == 0 and report.cut == 0
        )
        (log.debug if quiet and report.late < LATE_NOTED else log.info)(
            "feed_polled",
            feed=feed.name,
            status=report.status,
            late=round(report.late, 1),
            items=report.items,
            new=report.new,
            old=report.old,
            matched=report.matched,
            queued=report.queued,
            partial=report.partial,
            failed=report.failed,
            deferred=report.deferred,
            cut=report.cut,
            skipped=report.skipped,
        )
        return report

    async def _poll(self, feed: FeedConfig, claim: Claim, report: FeedReport, turn: Turn) -> None:
        """Fetch, parse and read the new items, filling `report`."""
        try:
            result = await self.fetcher.fetch_feed(
                claim.poll_url,
                timeout=feed.timeout,
                etag=claim.etag,
                last_modified=claim.last_modified,
                allow_networks=feed.allow_networks,
                auth=feed.auth,
            )
        finally:
            turn.request_done()
        report.etag, report.last_modified = result.etag, result.last_modified
        report.max_age = result.max_age
        if result.moved_to and result.moved_to != claim.poll_url:
            report.moved_to = result.moved_to
        if result.not_modified:
            report.status = "not_modified"
            return
        body_hash = hashlib.sha256(result.body).hexdigest()
        report.body_hash = body_hash
        if body_hash == claim.body_hash:
            report.status = "unchanged"  # the same document again: nothing new in it
            return
        parsed: ParsedFeed = await self.pool.run(
            PARSE_DEADLINE,
            parse_feed,
            result.body,
            feed=feed.name,
            url=result.url,
            content_type=result.content_type,
        )
        report.ttl = parsed.ttl
        report.cut, report.skipped = parsed.cut, parsed.skipped
        if parsed.skipped:
            log.warning(
                "feed_entries_skipped",
                feed=feed.name,
                skipped=parsed.skipped,
                problems=[redact(p) for p in parsed.problems],
            )
        await self._process_items(feed, parsed.items, report)

    def _feed_failed(
        self, feed: FeedConfig, claim: Claim, report: FeedReport, error: Exception
    ) -> None:
        text = describe(error)
        report.error = text
        status = error.status if isinstance(error, FetchError) else None
        retry_after = error.retry_after if isinstance(error, FetchError) else None
        flog = log.bind(feed=feed.name)
        if status == 410:
            report.status = "gone"
            flog.warning("feed_gone", error=text, hint="remove it from feeds.yaml")
            return
        if status in (429, 503) and retry_after is not None:
            report.status, report.retry_after = "rate_limited", retry_after
            flog.warning("feed_rate_limited", error=text, retry_after=retry_after)
            return
        report.status = "failed"
        # once per streak at warning (`claim.failures` is the stored streak), then at debug
        (flog.debug if claim.failures else flog.warning)(
            "feed_failed",
            failures=claim.failures + 1,
            late=round(report.late, 1),
            error=text,
            error_type=type(error).__name__,
            # a bug: the traceback, with each line of the streak
            exc_info=not isinstance(error, MonitorError),
        )

    async def _process_items(self, feed: FeedConfig, items: list[Item], report: FeedReport) -> None:
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        report.items = len(unique)
        new_keys = await self.db.call(self.store.unseen, feed.name, unique)
        report.new = len(new_keys)
        new = [unique[k] for k in reversed(new_keys)]  # feeds list newest first
        if feed.max_age is not None:
            cutoff = self.clock() - feed.max_age
            old = [i for i in new if i.published is not None and i.published.timestamp() < cutoff]
            if old:
                report.old = len(old)
                await self.db.call(
                    self.store.mark_seen,
                    feed.name,
                    [(i.key, article_id(i)) for i in old],
                    now=self.clock(),
                )
                stale = {i.key for i in old}
                new = [i for i in new if i.key not in stale]
        taken = take_for_poll(feed, new)
        report.deferred = len(new) - len(taken)
        pages = asyncio.Semaphore(PAGES_PER_FEED)
        tasks = [
            asyncio.ensure_future(self._process_item(feed, item, pages, report)) for item in taken
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # a database failure fails the poll at once: the items not
            for task in tasks:  # recorded yet stay unseen, for the next poll
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _process_item(
        self, feed: FeedConfig, item: Item, pages: asyncio.Semaphore, report: FeedReport
    ) -> None:
        """Read, match and record one new item; any failure but the database's is this
        item's alone."""
        ilog = log.bind(feed=feed.name, item=item.key)
        try:
            result, problem = await self._read_item(feed, item, pages)
        except StorageError:
            raise
        except Exception as e:  # the backstop: the item is recorded as failed, marked seen
            error = describe(e)
            report.failed += 1
            ilog.warning("item_failed", error=error, error_type=type(e).__name__)
            await self.db.call(
                self.store.record_item_problem,
                feed.name,
                item.key,
                stage=getattr(e, "stage", "item"),
                error=error,
                outcome="failed",
                now=self.clock(),
                article_id=article_id(item),
                mark_seen=True,
            )
            return
        queued, matched = await self.db.call(self.record, feed, item, result)
        report.queued += len(queued)
        report.matched += int(matched)
        report.partial += int(result.doc.partial)
        if problem is not None:
            stage, error = problem
            await self.db.call(
                self.store.record_item_problem,
                feed.name,
                item.key,
                stage=stage,
                error=error,
                outcome="partial",
                now=self.clock(),
                article_id=result.doc.id,
            )
        if queued and self.on_queued:
            self.on_queued()

    async def _read_item(
        self, feed: FeedConfig, item: Item, pages: asyncio.Semaphore
    ) -> tuple[ItemResult, tuple[str, str] | None]:
        """The item read and matched, and (stage, reason) when its page could not be used."""
        base = Document(
            id=article_id(item),
            title=item.title,
            text=item.content or item.summary,
            url=item.link,
            feed=feed.name,
            tags=frozenset(feed.tags),
            published=item.published,
            language=item.language,
        )
        page: Page | None = None
        problem: tuple[str, str] | None = None
        if feed.extract and item.link:
            async with pages, self._pages:
                try:
                    fetched = await self.fetcher.fetch_page(
                        item.link, timeout=feed.timeout, allow_networks=feed.allow_networks
                    )
                except FetchError as e:
                    self.metrics.pages_failed.inc()
                    problem = ("page", describe(e))
                    log.debug(
                        "article_not_fetched", feed=feed.name, item=item.key, error=problem[1]
                    )
                else:
                    self.metrics.pages_fetched.inc()
                    page = Page(fetched.body, fetched.content_type, fetched.url)
            if page is None:
                base = replace(base, partial=True)
        try:
            result = await self.pool.run(
                ITEM_DEADLINE, read_and_match, base, page, feed.extract_override
            )
        except WorkerError as e:
            if page is None:
                raise _StageError("match", e) from e
            problem = ("extract", describe(e))
            self.metrics.extraction_failures.inc()
            log.debug("article_not_read", feed=feed.name, item=item.key, error=problem[1])
            try:
                result = await self.pool.run(
                    ITEM_DEADLINE, read_and_match, replace(base, partial=True), None
                )
            except WorkerError as again:
                raise _StageError("match", again) from again
        if result.problem is not None:
            problem = ("extract", redact(result.problem))
            self.metrics.extraction_failures.inc()
            log.debug("article_not_read", feed=feed.name, item=item.key, error=problem[1])
        doc = result.doc
        if len(doc.text) > MAX_TEXT_CHARS:
            log.debug("article_text_cut", feed=feed.name, item=item.key, chars=len(doc.text))
        if result.canonical and canonical_url(result.canonical) != canonical_url(item.link or ""):
            checked = await self.fetcher.check_link(
                result.canonical, allow_networks=feed.allow_networks
            )
            if checked:
                result = replace(result, doc=replace(doc, url=checked))
        return result, problem

    def record(self, feed: FeedConfig, item: Item, result: ItemResult) -> tuple[list[str], bool]:
        """Record one new item that was read and matched (on the store thread); returns
        (queued alert ids, matched).

        A near-identical article seen recently under another link (the same wire story in
        two feeds) lends its id, so both share one alert per channel listing every source.
        Items of one feed are never merged with each other: an item whose link or text is
        another item's of the same feed (different keys) is a story of its own, so every
        (feed, item) pair is in exactly one alert's sources.
        """
        doc, matches = result.doc, result.matches
        story = doc.id
        if self.store.article_taken(feed.name, story, item.key):
            story = own_article_id(item)  # another item of this feed has the link: two stories
        twin = self.store.near_duplicate(
            result.sketch, since=self.clock() - TWIN_WINDOW, min_shared=MIN_SHARED
        )
        if (
            twin is not None
            and twin != story
            and not self.store.article_taken(feed.name, twin, item.key)
        ):
            log.debug("article_twin", feed=feed.name, item=item.key, article=twin)
            story = twin
        if story != doc.id:
            doc = replace(doc, id=story)
            matches = [m._replace(article_id=story) for m in matches]
        rules = self.rules
        now = self.clock()
        muted = self.store.muted_rules(now=now)  # recorded, not alerted (`monitor mute`)
        told = [m for m in matches if m.rule not in muted]
        alerts = build_alerts(doc, item, told, rules.by_name, now=now)
        evidence = [_evidence(m) for m in matches]
        queued = self.store.record_item(
            item,
            doc,
            matches,
            evidence,
            alerts,
            now=now,
            plan=lambda alert, view: plan_delivery(alert, view, rules, now),
            sketch=result.sketch,
        )
        for m in matches:
            self.metrics.matches.labels(m.rule).inc()
            log.info(
                "rule_matched",
                feed=feed.name,
                item=item.key,
                rule=m.rule,
                article=doc.id,
                **({"muted_until": _iso(muted[m.rule])} if m.rule in muted else {}),
            )
        return queued, bool(matches)


class _StageError(MonitorError):
    """An item that could not be processed at `stage`, with the worker's reason."""

    def __init__(self, stage: str, cause: WorkerError) -> None:
        super().__init__(f"{stage} failed: {cause}")
        self.stage = stage


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _evidence(m: Match) -> dict[str, Any]:
    return {
        "spans": [
            {"field": s.field, "start": s.start, "end": s.end, "text": s.text, "operand": s.operand}
            for s in m.spans
        ],
        "distances": list(m.distances),
    }


def plan_delivery(alert: Alert, view: NoiseView, rules: Rules, now: float) -> Queued:
    """When and how `alert` goes out: now on its own, in the channel's digest, or rolled
    into a rule's summary because every rule it lists is over its `max_alerts`.

    Called by the store inside the transaction that records the item, so `view`'s counts
    cannot change (another daemon recording an alert) before this alert is in."""
    channel = rules.channels.get(alert.channel)
    if channel is not None and channel.digest:
        due = view.batch_due(alert.channel, "digest")
        if due is None:
            due = channel.digest.next_after(now)
        return Queued(alert, "digest", due)
    over: list[tuple[str, RateLimit]] = []
    for entry in alert.rules:
        rule = rules.by_name.get(entry.name)
        limit = rule.max_alerts if rule else None
        if limit is None:
            return Queued(alert)
        sent = view.recent_alerts(entry.name, alert.channel, since=now - limit.window)
        if sent < limit.count:
            return Queued(alert)
        over.append((entry.name, limit))
    if not over:
        return Queued(alert)
    name, limit = over[0]
    key = f"summary:{name}"
    due = view.batch_due(alert.channel, key)
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
