"""The state database, behind one seam: SQLite (the embedded default) or PostgreSQL.

What is kept, and why:
- ``feeds``: each feed's schedule and health (validators, next due time, failure streak),
  and who holds it while it is polled (``claimed_by``, ``lease_until``).
- ``seen_items``: every (feed, item key) already processed, so nothing alerts twice.
- ``articles`` and ``matches``: what was read and which rules matched (with evidence).
- ``outbox``: one row per (article, channel) alert; the row *is* the delivery guarantee. It
  is written in the same transaction as the match, and only marked ``sent`` after a channel
  accepted it. A send in progress holds a lease (``claimed_by``, ``lease_until``).
- ``delivery_attempts``: every attempt with its outcome, for operators.
- ``item_problems``: the latest problem of each item that could not be processed whole.
- ``daemons``: every daemon working on this database, its heartbeat and config hash.

Work is shared through the data: a daemon claims due feeds and due alerts with a lease that
its heartbeat renews; a daemon that dies loses its claims when the leases run out (at once,
when a daemon on its host sees its process gone), and another takes them over. Seen items,
matches and outbox rows have unique keys, so a race between daemons cannot make a second
alert. Times are Unix seconds (floating point) in UTC.

The API is synchronous, and async code calls it through one thread adapter, `StoreThread`.
Why not async: both drivers we trust most are synchronous at heart (``sqlite3`` has no async
API; aiosqlite is itself a thread), the CLI and the tests want plain calls, and one SQL code
path (`sql.SqlStore`) then serves both backends. What async would give, not blocking the event
loop, the adapter gives: every call from the loop runs on the store's threads (one for
SQLite, whose connection is serialised anyway; a few for PostgreSQL, one per pooled
connection), so a lock wait or a slow disk never stalls polling, sending or the watchdog.

Backends: `sqlite.SQLiteStore` and `postgres.PostgresStore`, each with its numbered
migrations in ``migrations/<backend>/``. `open_store` picks one from the target.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import StorageError
from monitor.store.inbox import (
    ArticleView,
    Delivery,
    InboxEntry,
    InboxFilter,
    InboxPage,
    RuleEvidence,
    RuleHit,
    RuleStats,
    SearchHit,
    SearchPage,
    Votes,
)
from monitor.store.protocols import (
    AdminStore,
    DaemonStore,
    FeedStore,
    InboxStore,
    ItemStore,
    NoiseView,
    NoticeStore,
    OutboxStore,
    Planner,
    Store,
)
from monitor.store.rows import (
    AttemptRow,
    ChannelActivity,
    DaemonInfo,
    DaemonRow,
    ItemProblemRow,
    NoticeState,
    OutboxRow,
    Queued,
    RuleActivity,
    StoredArticle,
)
from monitor.store.sql import follow_up_id
from monitor.store.thread import StoreThread

__all__ = [
    "AdminStore",
    "ArticleView",
    "AttemptRow",
    "ChannelActivity",
    "DaemonInfo",
    "DaemonRow",
    "DaemonStore",
    "Delivery",
    "FeedStore",
    "InboxEntry",
    "InboxFilter",
    "InboxPage",
    "InboxStore",
    "ItemProblemRow",
    "ItemStore",
    "NoiseView",
    "NoticeState",
    "NoticeStore",
    "OutboxRow",
    "OutboxStore",
    "Planner",
    "Queued",
    "RuleActivity",
    "RuleEvidence",
    "RuleHit",
    "RuleStats",
    "SearchHit",
    "SearchPage",
    "Store",
    "StoreThread",
    "StoredArticle",
    "Votes",
    "follow_up_id",
    "is_postgres",
    "open_store",
    "retryable",
]

_POSTGRES = ("postgresql://", "postgres://")
_SQLITE = "sqlite:///"


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(_POSTGRES)


def sqlite_path(target: str | Path) -> Path:
    """The file a SQLite target names: a path, or ``sqlite:///path`` (``sqlite:////abs``)."""
    text = str(target)
    if text.startswith(_SQLITE):
        text = text[len(_SQLITE) :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise StorageError(
            f"unknown database kind {scheme!r}",
            text,
            hint="give a file path, sqlite:///path or postgresql://user@host/dbname",
        )
    return Path(text)


def open_store(target: str | Path, *, readonly: bool = False) -> Store:
    """The store at `target`: a SQLite file (a path or ``sqlite:///…``) or a PostgreSQL
    database (``postgresql://…``). Opening for writing applies the migrations not yet
    applied; ``readonly=True`` changes nothing (commands that only read)."""
    if is_postgres(target):
        from monitor.store.postgres import PostgresStore

        return PostgresStore(str(target), readonly=readonly)
    from monitor.store.sqlite import SQLiteStore

    return SQLiteStore(sqlite_path(target), readonly=readonly)


def retryable(error: StorageError) -> bool:
    """True when `error` leaves the database intact and the same work can be tried later
    (a full disk, a lock held elsewhere, a connection lost); a corrupt or foreign database
    is not."""
    cause = error.__cause__
    if type(cause).__module__.startswith("psycopg"):
        from monitor.store import postgres

        return postgres.retryable(error)
    from monitor.store import sqlite

    return sqlite.retryable(error)
