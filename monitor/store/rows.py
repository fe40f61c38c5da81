"""What the store hands back and takes in, beside the domain models of `monitor.models`."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.models import Alert, Document


@dataclass(frozen=True)
class Queued:
    """An alert to put in the outbox, and when and how it goes out.

    `batch` groups alerts a channel sends as one message: ``digest`` (the channel's digest
    schedule) or ``summary:<rule>`` (matches beyond the rule's `max_alerts`); `due` is when.
    """

    alert: Alert
    batch: str | None = None
    due: float | None = None


@dataclass(frozen=True)
class NoticeState:
    subject: str
    failures: int = 0
    since: float | None = None
    notified: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: str
    channel: str
    article_id: str
    alert: Alert
    batch: str | None
    status: str
    attempts: int
    created: float
    next_attempt_at: float
    sent_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class AttemptRow:
    alert_id: str
    channel: str
    at: float
    outcome: str
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class ItemProblemRow:
    """The latest problem of one item; `occurrences` counts every problem it has had."""

    feed: str
    item_key: str
    stage: str
    outcome: str
    error: str
    article_id: str | None
    first_at: float
    at: float
    occurrences: int


@dataclass(frozen=True)
class DaemonInfo:
    """Who a running daemon is: `id` names it on every claim it holds."""

    id: str
    host: str
    pid: int
    version: str
    config_hash: str


@dataclass(frozen=True)
class Renewal:
    """What one heartbeat renewed: the feeds (by name) and how many alerts of the outbox. A
    claim not here was not renewed (run out, another daemon's now, or its row was being
    written at that moment) and lasts no longer than it did."""

    feeds: frozenset[str]
    alerts: int


@dataclass(frozen=True)
class DaemonRow:
    """A daemon as the database knows it, with the claims (feeds, alerts) it holds now."""

    id: str
    host: str
    pid: int
    version: str
    config_hash: str
    started: float
    heartbeat: float
    stopped: float | None
    feeds_held: int
    alerts_held: int
    reloaded: float | None = None  # the last reload tried, and what was wrong (None: it took)
    reload_problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleActivity:
    """What a rule did lately: matches recorded and alerts queued, in the last day and week."""

    rule: str
    matches_day: int
    matches_week: int
    alerts_day: int
    alerts_week: int
    last_match: float | None


@dataclass(frozen=True)
class ChannelActivity:
    """A channel's outbox: waiting, given up on, sent in the last day."""

    channel: str
    pending: int
    failed: int
    sent_day: int


@dataclass(frozen=True)
class StoredArticle:
    """An article as it was read and recorded (`doc` has no feed tags: they are
    configuration, not state), and when it was recorded."""

    doc: Document
    created: float
