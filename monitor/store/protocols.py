"""The store's roles, one protocol each; a backend is one class that plays them all.

Each client asks only for the role it uses: the poller a `FeedStore`, the pipeline an
`ItemStore`, the outbox worker an `OutboxStore`, notices a `NoticeStore`, the daemon's
life-cycle a `DaemonStore`, the CLI (and later the web inbox) an `AdminStore`. `Store` is all
of them, what `open_store` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from monitor.models import Alert, Claim, Document, FeedSlot, FeedState, Item, Match, PollOutcome
from monitor.store.inbox import ArticleView, InboxFilter, InboxPage, RuleStats, SearchPage
from monitor.store.rows import (
    AttemptRow,
    ChannelActivity,
    DaemonInfo,
    DaemonRow,
    ItemProblemRow,
    NoticeState,
    OutboxRow,
    Queued,
    Renewal,
    RuleActivity,
    StoredArticle,
)

Outcome = Literal["partial", "failed"]


class NoiseView(Protocol):
    """What the noise policy may read, inside the transaction that records an item, so that
    two daemons recording at once decide on the same counts."""

    def recent_alerts(self, rule: str, channel: str, *, since: float) -> int:
        """Alerts sent on their own (not in a batch) for `rule` to `channel` since `since`."""
        ...

    def batch_due(self, channel: str, batch: str) -> float | None:
        """When the open batch `batch` of `channel` goes out (None: no open batch)."""
        ...


Planner = Callable[[Alert, NoiseView], Queued]


class FeedStore(Protocol):
    def sync_feeds(
        self,
        feeds: Sequence[FeedSlot],
        *,
        now: float,
        first_due: Callable[[FeedSlot, int], float],
    ) -> int: ...

    def claim_due(
        self,
        now: float,
        limit: int,
        owner: str,
        *,
        lease: float,
        per_host: int | None = None,
        skip_hosts: Sequence[str] = (),
        names: Sequence[str] = (),
    ) -> list[Claim]: ...

    def record_polls(self, outcomes: Sequence[PollOutcome], *, owner: str | None = None) -> int: ...

    def feed_state(self, name: str) -> FeedState | None: ...


class ItemStore(Protocol):
    def unseen(self, feed: str, keys: Iterable[str]) -> list[str]: ...

    def mark_seen(self, feed: str, items: Sequence[tuple[str, str]], *, now: float) -> None: ...

    def record_item(
        self,
        item: Item,
        doc: Document,
        matches: Sequence[Match],
        evidence: Sequence[dict[str, Any]],
        alerts: Sequence[Alert | Queued],
        *,
        now: float,
        plan: Planner | None = None,
        sketch: Sequence[int] = (),
    ) -> list[str]: ...

    def article_taken(self, feed: str, article_id: str, item_key: str) -> bool: ...

    def muted_rules(self, *, now: float) -> dict[str, float]: ...

    def near_duplicate(
        self, sketch: Sequence[int], *, since: float, min_shared: int
    ) -> str | None: ...

    def record_item_problem(
        self,
        feed: str,
        item_key: str,
        *,
        stage: str,
        error: str,
        outcome: Outcome,
        now: float,
        article_id: str | None = None,
        mark_seen: bool = False,
    ) -> int: ...


class OutboxStore(Protocol):
    def enqueue(self, alert: Alert | Queued, *, now: float) -> bool: ...

    def claim_next(
        self, channel: str, *, now: float, lease: float, owner: str = ""
    ) -> list[OutboxRow]: ...

    def mark_sent(self, ids: Sequence[str], *, now: float, status_code: int | None) -> None: ...

    def mark_retry(
        self,
        ids: Sequence[str],
        *,
        now: float,
        next_attempt_at: float,
        error: str,
        status_code: int | None,
    ) -> None: ...

    def mark_failed(
        self, ids: Sequence[str], *, now: float, error: str, status_code: int | None
    ) -> None: ...

    def next_due(self) -> float | None: ...


class NoticeStore(Protocol):
    def notice_state(self, subject: str) -> NoticeState: ...

    def save_notice_state(
        self, state: NoticeState, notice: Alert | None, *, now: float
    ) -> None: ...

    def enqueue(self, alert: Alert | Queued, *, now: float) -> bool: ...


class DaemonStore(Protocol):
    def register_daemon(self, daemon: DaemonInfo, *, now: float, lease: float) -> None: ...

    def heartbeat(self, daemon: DaemonInfo, *, now: float, lease: float) -> Renewal: ...

    def retire_daemon(self, daemon_id: str, *, now: float) -> int: ...

    def release_dead(self, host: str, alive: Callable[[int], bool], *, now: float) -> int: ...

    def daemons(self, *, now: float, within: float | None = None) -> list[DaemonRow]: ...

    def record_reload(self, daemon_id: str, *, now: float, problems: Sequence[str]) -> None: ...

    def prune(self, *, before: float) -> int: ...


class InboxStore(Protocol):
    """What the web inbox asks (see `monitor.store.inbox`): alerts, articles with their
    evidence, search, editors' feedback and each rule's record."""

    def inbox(
        self,
        filters: InboxFilter = ...,
        *,
        offset: int = 0,
        limit: int = ...,
        who: str | None = None,
    ) -> InboxPage: ...

    def article(self, article_id: str, *, who: str | None = None) -> ArticleView | None: ...

    def search(self, query: str, *, offset: int = 0, limit: int = 20) -> SearchPage: ...

    def record_feedback(
        self,
        article_id: str,
        *,
        useful: bool,
        who: str,
        now: float,
        rules: Sequence[str] = (),
    ) -> int: ...

    def rule_precision(self) -> dict[str, tuple[int, int]]: ...

    def rule_stats(self, *, now: float, day_starts: Sequence[float]) -> list[RuleStats]: ...


class AdminStore(InboxStore, Protocol):
    """What operators ask of the state: the CLI and the web inbox, one set of queries."""

    @property
    def location(self) -> str: ...

    def close(self) -> None: ...

    @property
    def schema_version(self) -> int: ...

    def integrity_check(self) -> str: ...

    def feed_states(self) -> list[FeedState]: ...

    def failing_since(self, name: str) -> datetime | None: ...

    def counts(self) -> dict[str, int]: ...

    def outbox(self, status: str | None = None, limit: int = 50) -> list[OutboxRow]: ...

    def attempts(self, alert_id: str) -> list[AttemptRow]: ...

    def retry_failed(self, alert_id: str | None = None, *, now: float) -> int: ...

    def item_problems(
        self, feed: str | None = None, *, limit: int = 20
    ) -> list[ItemProblemRow]: ...

    def item_problem_counts(self, *, since: float) -> dict[str, tuple[int, int]]: ...

    def daemons(self, *, now: float, within: float | None = None) -> list[DaemonRow]: ...

    def mute_rule(self, rule: str, *, until: float, now: float) -> None: ...

    def unmute_rule(self, rule: str) -> bool: ...

    def muted_rules(self, *, now: float) -> dict[str, float]: ...

    def pause_channel(self, channel: str, *, now: float) -> bool: ...

    def resume_channel(self, channel: str) -> bool: ...

    def paused_channels(self) -> dict[str, float]: ...

    def send_now(
        self, *, now: float, alert_id: str | None = None, channel: str | None = None
    ) -> int: ...

    def alert_status(self, alert_id: str) -> str | None: ...

    def rule_activity(self, *, now: float) -> list[RuleActivity]: ...

    def channel_activity(self, *, now: float) -> list[ChannelActivity]: ...

    def items_per_feed(self, *, since: float) -> dict[str, int]: ...

    def articles_since(
        self, since: float, *, until: float, limit: int, after_id: str = ""
    ) -> list[StoredArticle]: ...

    def alerted_rules(self, article_ids: Sequence[str]) -> set[tuple[str, str, str]]: ...

    def queue_alerts(self, alerts: Sequence[Alert], *, now: float, plan: Planner) -> list[str]: ...

    def pending_by_channel(self) -> dict[str, int]: ...


class Store(FeedStore, ItemStore, OutboxStore, NoticeStore, DaemonStore, AdminStore, Protocol):
    """Every role: what a backend implements."""

    concurrency: int  # how many threads may call it at once (see `StoreThread`)

    def close(self) -> None: ...
