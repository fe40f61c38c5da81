"""Frozen dataclasses handed from stage to stage.

The order here follows an article through the system:
configuration -> FeedState -> FetchResult -> Item -> Article (extracted page)
-> Document (what rules see) -> Match -> Alert (what a channel sends) -> DeliveryResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo

from monitor.redact import url_origin

if TYPE_CHECKING:
    from monitor.addresses import IPNetwork
    from monitor.config.values import DigestSchedule

# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ExtractOverride:
    """Operator's site-specific extraction hints from feeds.yaml (`extract: {selector, remove}`)."""

    selector: str | None = None
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    interval: float  # seconds between polls
    timeout: float  # seconds for one HTTP request
    extract: bool = True  # fetch each item's link and extract the page
    extract_override: ExtractOverride | None = None
    tags: tuple[str, ...] = ()
    allow_networks: tuple[IPNetwork, ...] = ()  # networks article links may resolve into
    enabled: bool = True
    auth: tuple[str, str] | None = field(default=None, repr=False)  # basic auth (user, password)
    # bounds on the interval a server's hints (Cache-Control, Expires, <ttl>) may set;
    # None: `interval` itself as the floor, max(interval, 30 min) as the ceiling
    min_interval: float | None = None
    max_interval: float | None = None
    max_age: float | None = 3 * 86400.0  # items published longer ago are seen, never alerted

    @property
    def interval_bounds(self) -> tuple[float, float]:
        low = self.min_interval if self.min_interval is not None else self.interval
        high = self.max_interval if self.max_interval is not None else max(self.interval, 1800.0)
        return low, max(low, high)


@dataclass(frozen=True)
class PollingConfig:
    """How many polls run at once, in all and to any one host; how long a claim lasts.

    `lease`: a daemon's claims (feeds it polls, alerts it sends) are renewed every quarter of
    it while the daemon lives; one that dies loses them this long after its last renewal,
    and another daemon takes the work over.
    """

    max_polls: int = 50
    per_host: int = 2
    lease: float = 60.0


METRICS_PORT = 9464  # Prometheus' registry of default ports lists 9464 for OpenTelemetry exporters


@dataclass(frozen=True)
class MetricsConfig:
    """Where `/metrics` and `/healthz` are served (`metrics:` in feeds.yaml); `listen` None:
    off. `explicit`: the address was written in feeds.yaml, so failing to listen on it stops
    the daemon; the default address, when taken, is only warned about."""

    listen: tuple[str, int] | None = ("127.0.0.1", METRICS_PORT)
    explicit: bool = False


@dataclass(frozen=True)
class EntityConfig:
    """A named entity: `aliases` match case-insensitively, `exact` only with the same case."""

    id: str
    aliases: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleExamples:
    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    """`max_alerts: 20/h`: at most `count` alerts per channel in any `window` seconds."""

    count: int
    window: float


@dataclass(frozen=True)
class RuleConfig:
    name: str
    query: str
    channels: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()  # only articles from these feed names (empty: all)
    tags: tuple[str, ...] = ()  # only articles from feeds with one of these tags (empty: all)
    languages: tuple[str, ...] = ()  # only articles in these languages (empty: all)
    min_mentions: int = 1
    description: str = ""
    examples: RuleExamples = field(default_factory=RuleExamples)
    max_alerts: RateLimit | None = None  # beyond this, matches roll into one summary alert
    enabled: bool = True  # False: parsed and checked, never matched


UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False  # upgrade a plain connection with STARTTLS (required if true)
    tls: bool = False  # implicit TLS (SMTPS, usually port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # from password_env / credentials
    timeout: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Channel:
    """What every channel kind has. A kind is a subclass; `kind` is its name in rules.yaml.

    `timezone` is the zone of the times in its messages and of its digest schedule;
    `digest` (None: each alert on its own) was parsed with that zone."""

    kind: ClassVar[str]
    name: str
    timezone: ZoneInfo = UTC_ZONE
    digest: DigestSchedule | None = None
    templates_dir: Path | None = None  # operator overrides of the Jinja2 templates
    enabled: bool = True  # False: parsed and checked, never sent to


@dataclass(frozen=True, kw_only=True)
class EmailChannel(Channel):
    kind: ClassVar[str] = "email"
    to: tuple[str, ...]
    sender: str
    smtp: SmtpConfig = field(default_factory=SmtpConfig)

    @property
    def timeout(self) -> float:
        return self.smtp.timeout

    @property
    def target(self) -> str:
        return ", ".join(self.to)


@dataclass(frozen=True, kw_only=True)
class WebhookChannel(Channel):
    kind: ClassVar[str] = "webhook"
    url: str
    secret: str | None = field(default=None, repr=False)  # `whsec_...`, checked by config
    timeout: float = 30.0

    @property
    def target(self) -> str:
        return url_origin(self.url)


@dataclass(frozen=True, kw_only=True)
class FileChannel(Channel):
    kind: ClassVar[str] = "file"
    path: Path
    timeout: ClassVar[float] = 30.0  # an append; the outbox's lease needs a bound

    @property
    def target(self) -> str:
        return str(self.path)


@dataclass(frozen=True, kw_only=True)
class AppriseChannel(Channel):
    kind: ClassVar[str] = "apprise"
    urls: tuple[str, ...] = field(repr=False)  # they carry tokens
    timeout: float = 30.0

    @property
    def target(self) -> str:
        return f"{len(self.urls)} URL(s) <redacted>"


ChannelConfig = EmailChannel | WebhookChannel | FileChannel | AppriseChannel
"""One delivery channel: one type per kind, each with only the fields that apply."""


# --------------------------------------------------------------------------- polling


@dataclass(frozen=True)
class FeedState:
    """What the store remembers about one feed between polls and restarts: its schedule,
    validators and health."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    next_check: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    interval: float | None = None  # the effective interval (after the server's hints)
    last_status: str | None = None
    moved_to: str | None = None  # where a permanent redirect sent us; polled instead of url
    gone: bool = False  # answered 410: no longer polled until its URL changes in feeds.yaml
    active: bool = True  # in feeds.yaml and enabled
    polls: int = 0
    not_modified: int = 0  # polls answered 304
    new_items: int = 0
    last_new_item: datetime | None = None
    failures: int = 0  # failed polls in all
    last_lateness: float | None = None  # seconds the last poll started after it was due
    mean_lateness: float | None = None


@dataclass(frozen=True)
class FeedSlot:
    """A configured feed as the schedule sees it."""

    name: str
    url: str
    host: str
    interval: float
    min_interval: float
    max_interval: float


@dataclass(frozen=True)
class Claim:
    """A due feed taken for one poll, with what the poll needs from its row."""

    name: str
    url: str  # as configured
    poll_url: str  # where to poll: `moved_to` if the feed moved for good, else `url`
    due: float
    interval: float
    etag: str | None
    last_modified: str | None
    failures: int  # consecutive
    body_hash: str | None
    host: str  # the host its polls count against
    ttl: float | None = None  # the <ttl> of the document last read, in seconds


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a feed leaves in its row.

    status: ok | not_modified (304) | unchanged (200 with the last body) | failed |
    rate_limited (429/503 with Retry-After: not a failure) | gone (410) | postponed (its host
    is paused; not polled).
    """

    name: str
    url: str
    status: str
    started: float
    next_check: float
    interval: float
    lateness: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    keep_validators: bool = True  # False: drop them (new items were left for the next poll)
    body_hash: str | None = None
    new_items: int = 0
    error: str | None = None
    moved_to: str | None = None
    ttl: float | None = None  # the document's <ttl> (status ok): kept for 304s to come


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    # seconds the response stays fresh (Cache-Control max-age, else Expires - Date); None
    # when the server did not say or said it unreadably
    max_age: float | None = None
    # the final URL when every redirect on the way was permanent (301/308), else None
    moved_to: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Item:
    """One entry of a feed, as parsed. `key` is its stable identity within the feed."""

    key: str
    feed: str
    title: str
    link: str | None
    summary: str = ""  # plain text
    content: str = ""  # plain text of the full content the feed carries, if any
    published: datetime | None = None
    author: str | None = None
    # the entry's declared language (xml:lang, dc:language), else its feed's: a lower-case
    # tag such as "de" or "en-gb"
    language: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """What one feed document yielded: its items in document order, how many entries past
    the per-document cap were not read (`cut`), and how many could not be read (`skipped`),
    with the reasons of the first few (`problems`) for the operator.

    `language` is the feed's declared language (a lower-case tag such as "de" or "en-gb"),
    `ttl` how many seconds the feed says it may be cached (RSS `<ttl>`, else
    `sy:updatePeriod`/`sy:updateFrequency`); None when the feed declares none we can use."""

    items: list[Item]
    cut: int = 0
    skipped: int = 0
    problems: tuple[str, ...] = ()
    language: str | None = None  # the feed's declared language
    ttl: float | None = None  # seconds, from <ttl> or sy:updatePeriod


@dataclass(frozen=True)
class Article:
    """What extraction found on an article page. An empty `text` is a result, not an error."""

    title: str = ""
    text: str = ""  # paragraphs separated by a blank line
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    language: str | None = None
    canonical_url: str | None = None
    description: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class Document:
    """What the rules see: one article's title and body plus what rule filters look at."""

    id: str
    title: str
    text: str
    url: str | None = None
    feed: str | None = None
    tags: frozenset[str] = frozenset()
    language: str | None = None
    published: datetime | None = None
    partial: bool = False  # body came from the feed because the page could not be extracted


# --------------------------------------------------------------------------- matching

Field = Literal["title", "body"]


class Span(NamedTuple):
    """Words in the document that satisfied one operand of a query.

    `start`/`end` are character offsets into the field's text (title or body) as given.
    """

    field: Field
    start: int
    end: int
    text: str
    operand: str  # the query operand that matched, e.g. '@iran' or '"oil prices"'


class Snippet(NamedTuple):
    """A short excerpt; `highlights` are (start, end) offsets of matched words in `text`.

    Spans, snippets and matches are named tuples: a large rule set makes thousands per
    article, and a tuple is built several times faster than a frozen dataclass."""

    field: Field
    text: str
    highlights: tuple[tuple[int, int], ...] = ()


class Match(NamedTuple):
    """One rule that matched one document, with its evidence."""

    rule: str
    article_id: str
    spans: tuple[Span, ...] = ()
    snippets: tuple[Snippet, ...] = ()
    channels: tuple[str, ...] = ()
    distances: tuple[int, ...] = ()  # NEAR distances (words between) that satisfied the rule


# --------------------------------------------------------------------------- delivery

AlertKind = Literal["alert", "notice"]


@dataclass(frozen=True)
class AlertRule:
    name: str
    description: str = ""
    snippets: tuple[Snippet, ...] = ()
    terms: tuple[str, ...] = ()  # the words that matched, as written in the article


@dataclass(frozen=True)
class Alert:
    """One message for one channel about one article, listing every rule that matched.

    `id` is stable per (article, channel) and is the idempotency key receivers use.
    """

    id: str
    channel: str
    article_id: str
    title: str
    url: str | None
    source: str
    published: datetime | None
    rules: tuple[AlertRule, ...]
    created: datetime
    language: str | None = None
    partial: bool = False
    sources: tuple[str, ...] = ()
    # "alert": an article matched; "notice": news-monitor telling its operator something
    # (a feed or channel failing or recovered); a notice has no rules and `title` says it all
    kind: AlertKind = "alert"
    test: bool = False  # sent by `monitor send-test`: marked TEST in subject, body and payload

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "channel": self.channel,
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "sources": list(self.sources),
            "published": self.published.isoformat() if self.published else None,
            "language": self.language,
            "partial": self.partial,
            "created": self.created.isoformat(),
            "test": self.test,
            "rules": [
                {
                    "name": r.name,
                    "description": r.description,
                    "terms": list(r.terms),
                    "snippets": [
                        {
                            "field": s.field,
                            "text": s.text,
                            "highlights": [list(h) for h in s.highlights],
                        }
                        for s in r.snippets
                    ],
                }
                for r in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        def dt(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        created = dt(data["created"])
        assert created is not None
        return cls(
            id=data["id"],
            channel=data["channel"],
            article_id=data["article_id"],
            title=data["title"],
            url=data.get("url"),
            source=data["source"],
            sources=tuple(data.get("sources") or ()),
            published=dt(data.get("published")),
            language=data.get("language"),
            partial=bool(data.get("partial")),
            kind=data.get("kind", "alert"),
            test=bool(data.get("test")),
            created=created,
            rules=tuple(
                AlertRule(
                    name=r["name"],
                    description=r.get("description", ""),
                    terms=tuple(r.get("terms") or ()),
                    snippets=tuple(
                        Snippet(
                            field=s["field"],
                            text=s["text"],
                            highlights=tuple((int(a), int(b)) for a, b in s.get("highlights", ())),
                        )
                        for s in r.get("snippets", ())
                    ),
                )
                for r in data["rules"]
            ),
        )


BatchKind = Literal["digest", "summary"]


@dataclass(frozen=True)
class Batch:
    """Several alerts for one channel sent as one message, with its own stable id.

    "digest": the channel collects alerts and sends them together on its schedule.
    "summary": a rule went over its `max_alerts` limit; the matches beyond it are listed
    in one message instead of one each (never dropped).
    """

    id: str
    channel: str
    kind: BatchKind
    alerts: tuple[Alert, ...]
    created: datetime
    rule: str | None = None  # summary: the rule that reached its limit
    since: datetime | None = None  # the earliest alert in the batch
    test: bool = False  # sent by `monitor send-test`


@dataclass(frozen=True)
class DeliveryResult:
    """A successful send: `status` is the HTTP/SMTP code when there was one."""

    status: int | None = None
    detail: str = ""
