"""All SQL lives here: the state database (SQLite, WAL) and its numbered migrations.

What is kept, and why:
- ``feeds``: per-feed HTTP validators (ETag, Last-Modified), when it is next due, and its
  failure streak, so a restart neither re-downloads nor forgets a broken feed.
- ``seen_items``: every (feed, item key) already processed, so nothing alerts twice.
- ``articles`` and ``matches``: what was read and which rules matched (with evidence).
- ``outbox``: one row per (article, channel) alert; the row *is* the delivery guarantee.
  It is written in the same transaction as the match, and only marked ``sent`` after a
  channel accepted it. A send in progress holds a lease (``leased_until``, past the send's
  timeout). One process owns a database at a time (an exclusive lock on ``<db>.lock``), so
  at start-up leases left by a process that died are released at once: the alert that was
  in flight is resent, with the same alert id.
- ``delivery_attempts``: every attempt with its outcome, for operators.
- ``item_problems``: the latest problem of each item that could not be processed whole
  (stage, error, whether it was still matched on the feed's own text), for ``monitor status``.

Times are stored as Unix seconds (REAL) in UTC.

Whose file it is: every news-monitor database carries ``PRAGMA application_id`` 0x4E4D4F4E
(the ASCII of ``NMON``). Before anything is written, the file is looked at through a
connection that cannot change it or leave files beside it: a file with another id, or
without ours and with tables other than the first schema's, is refused and left as it was.
Databases made before the id existed (id 0, schema 1, our tables) are adopted by a migration.

Failures are told apart for the operator (see `_storage_error`): disk full, locked by another
process (after `BUSY_TIMEOUT`), corrupt or not SQLite, read-only; a failed write is rolled
back whole, so what was committed before stays.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from monitor.errors import StorageError
from monitor.models import Alert, Document, FeedState, Item, Match

APPLICATION_ID = 0x4E4D4F4E  # b"NMON": the PRAGMA application_id of every news-monitor database

# How long a call waits for a write lock another process holds before it fails. Our own
# transactions last milliseconds; a lock held longer is a sqlite3 shell, a VACUUM or a
# backup. Calls run in worker threads, so the wait never holds the event loop.
BUSY_TIMEOUT = 5.0

SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file

# Item problems keep this much of an error message (the text can come from a stranger's page).
ERROR_CHARS = 2000

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE feeds (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_attempt REAL,
        last_success REAL,
        next_check REAL,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        failing_since REAL,
        last_error TEXT
    );
    CREATE TABLE seen_items (
        feed TEXT NOT NULL,
        item_key TEXT NOT NULL,
        article_id TEXT NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (feed, item_key)
    ) WITHOUT ROWID;
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        feed TEXT NOT NULL,
        url TEXT,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        published REAL,
        language TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE matches (
        article_id TEXT NOT NULL REFERENCES articles(id),
        rule TEXT NOT NULL,
        evidence TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (article_id, rule)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        article_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        batch TEXT,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        leased_until REAL,
        sent_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE INDEX outbox_batch ON outbox (channel, batch, status);
    CREATE TABLE alert_rules (
        alert_id TEXT NOT NULL REFERENCES outbox(id),
        channel TEXT NOT NULL,
        rule TEXT NOT NULL,
        batched INTEGER NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (alert_id, rule)
    ) WITHOUT ROWID;
    CREATE INDEX alert_rules_recent ON alert_rules (rule, channel, created);
    CREATE TABLE sketches (
        hash INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX sketches_hash ON sketches (hash, created);
    CREATE INDEX sketches_article ON sketches (article_id);
    CREATE TABLE notices (
        subject TEXT PRIMARY KEY,
        failures INTEGER NOT NULL DEFAULT 0,
        since REAL,
        notified REAL,
        last_error TEXT
    );
    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY,
        alert_id TEXT NOT NULL REFERENCES outbox(id),
        channel TEXT NOT NULL,
        at REAL NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
        status_code INTEGER,
        error TEXT
    );
    CREATE INDEX delivery_attempts_alert ON delivery_attempts (alert_id);
    """,
    # 2: mark the file as ours (databases made before this migration have application_id 0)
    f"PRAGMA application_id = {APPLICATION_ID}",
    # 3: items that could not be processed whole, the latest problem of each
    """
    CREATE TABLE item_problems (
        feed TEXT NOT NULL,
        item_key TEXT NOT NULL,
        stage TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('partial', 'failed')),
        error TEXT NOT NULL,
        article_id TEXT,
        first_at REAL NOT NULL,
        at REAL NOT NULL,
        occurrences INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (feed, item_key)
    ) WITHOUT ROWID;
    CREATE INDEX item_problems_at ON item_problems (at);
    """,
)

# The tables and indexes of schema 1: with application_id 0 and user_version 1, a file holding
# exactly these is a news-monitor database made before the id was set.
FIRST_SCHEMA = frozenset(re.findall(r"CREATE (?:TABLE|INDEX) (\w+)", MIGRATIONS[0]))

Outcome = Literal["partial", "failed"]


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


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


def _storage_error(e: sqlite3.Error, path: Path, doing: str) -> StorageError:
    """The operator's reading of a SQLite failure: what happened, where, and what to do."""
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    where = str(path)
    if primary == sqlite3.SQLITE_FULL:
        return StorageError(
            f"disk full: the state database cannot grow, this {doing} was rolled back",
            where,
            hint=f"free space on the filesystem holding {path.absolute().parent};"
            " what was recorded before is kept",
        )
    if primary == sqlite3.SQLITE_BUSY:
        return StorageError(
            f"database is locked by another process (waited {BUSY_TIMEOUT:g} s); "
            f"this {doing} did not happen",
            where,
            hint="another program holds a write transaction on it, such as a sqlite3 shell,"
            " a VACUUM or a backup tool: end it",
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return _corrupt(path)
    if code in (sqlite3.SQLITE_READONLY_ROLLBACK, sqlite3.SQLITE_READONLY_RECOVERY):
        return StorageError(
            "the database holds a transaction left unfinished by a program that stopped,"
            f" which this read-only look cannot undo; this {doing} did not happen",
            where,
            hint="open it once read-write with the program that wrote it (or the sqlite3"
            " shell) so that SQLite can finish its recovery",
        )
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return StorageError(
            f"the state database is read-only, this {doing} did not happen",
            where,
            hint="check the permissions of the file and its directory",
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StorageError(
            "cannot open the state database",
            where,
            hint="check that the path is a file and its directory exists and is writable",
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StorageError(f"I/O error on the state database during a {doing}", where)
    return StorageError(f"database {doing} failed", where)


def _corrupt(path: Path) -> StorageError:
    return StorageError(
        "the state database is corrupt or not a SQLite database",
        str(path),
        hint="restore it from a backup, or move it aside so that a new one is started;"
        " items still in the feeds may then alert again",
    )


def retryable(error: StorageError) -> bool:
    """True when `error` leaves the database intact and the same work can be tried later.

    A full disk and a lock held by another process are; a corrupt or foreign file is not.
    """
    code = getattr(error.__cause__, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY)


def _not_ours(app_id: int, version: int, names: set[str]) -> str | None:
    """Why a database is not news-monitor's, or None when it is (or is empty).

    `names` are its tables, indexes, views and triggers (SQLite's own ``sqlite_*`` left out).
    """
    if app_id == APPLICATION_ID:
        return None
    if app_id != 0:
        return f"its application_id is {app_id:#010x}, news-monitor's is {APPLICATION_ID:#010x}"
    if version == 0 and not names:
        return None  # an empty database: nothing in it to keep
    if version == 1 and names == FIRST_SCHEMA:
        return None  # made before the application_id existed: adopted by migration 2
    others = sorted(names - FIRST_SCHEMA)
    if others:
        shown = ", ".join(repr(n) for n in others[:3]) + (", ..." if len(others) > 3 else "")
        return f"it holds tables or indexes news-monitor does not make ({shown})"
    if version == 1:
        return "it lacks some of the tables and indexes of news-monitor's first schema"
    return f"it has no news-monitor application_id and user_version {version}"


class Store:
    """The state database: one connection, shared by threads.

    Every public method takes the instance lock for its SQL work, so calls from several threads
    (``asyncio.to_thread``) are serialised on the one connection. While another process holds a
    lock a call needs, the call waits with the instance lock released (other calls go on), up
    to `BUSY_TIMEOUT`. A store opened with ``readonly=True`` (for commands that only read)
    never migrates, creates or changes anything, and reads beside a running service.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        self._lock_file: IO[str] | None = None
        if readonly or path.exists():
            self._db = self._connect_reader()
            try:
                self._check_ours()
            except BaseException:
                self._db.close()
                raise
            if readonly:
                return
            self._db.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(
                "cannot open the state database: its directory cannot be made", str(path)
            ) from e
        self._db = self._connect(str(path), uri=False)
        try:
            self._query("PRAGMA journal_mode=WAL")
            self._query("PRAGMA synchronous=FULL")
            self._query("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _connect(self, target: str, *, uri: bool) -> sqlite3.Connection:
        # timeout=0: SQLite does not wait for locks itself; `_query` and `_begin` wait
        # between attempts without holding the instance lock.
        try:
            return sqlite3.connect(
                target, uri=uri, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise _storage_error(e, self.path, "open") from e

    def _connect_reader(self) -> sqlite3.Connection:
        """A connection that cannot change the file or leave files beside it.

        A database without journal files (no ``-wal``, no ``-journal``) is complete in its one
        file and no process has it open: it is read as immutable, which creates nothing.
        Otherwise it is opened read-only, sharing the journal files already there.
        """
        path = self.path
        if not path.exists():
            raise StorageError(
                "no state database here yet (the service has not run)",
                str(path),
                hint="give the service's database with --db or MONITOR_DB",
            )
        try:
            with path.open("rb") as f:
                magic = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise StorageError("cannot open the state database", str(path)) from e
        if magic and magic != SQLITE_MAGIC:
            raise _corrupt(path)  # SQLite itself would take a file of one byte as empty
        journal = any(path.with_name(path.name + s).exists() for s in ("-wal", "-journal"))
        mode = "mode=ro" if journal else "mode=ro&immutable=1"
        return self._connect(f"{path.absolute().as_uri()}?{mode}", uri=True)

    def _check_ours(self) -> None:
        """Refuse a file that is not a news-monitor database, or whose schema is too new."""
        app_id = int(self._query("PRAGMA application_id")[0][0])
        version = int(self._query("PRAGMA user_version")[0][0])
        names = {
            r[0]
            for r in self._query(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        }
        reason = _not_ours(app_id, version, names)
        if reason is not None:
            raise StorageError(
                f"this file is not a news-monitor database: {reason}; it was left unchanged",
                str(self.path),
                hint="give the service's own database with --db or MONITOR_DB,"
                " or a path where a new one can be made",
            )
        if version > len(MIGRATIONS):
            raise StorageError(
                f"database schema version {version} is newer than this program ({len(MIGRATIONS)})",
                str(self.path),
                hint="upgrade news-monitor",
            )
        if self.readonly and version == 0:
            raise StorageError(
                "the state database is empty (the service has not run)", str(self.path)
            )

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + BUSY_TIMEOUT
        attempt = 0
        while True:
            with self._lock:
                try:
                    return self._db.execute(sql, params).fetchall()
                except sqlite3.Error as e:
                    self._wait_or_raise(e, "read", deadline, attempt)
            attempt += 1

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed whole, or rolled back whole and raised."""
        self._begin()
        try:
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback(e)
                raise _storage_error(e, self.path, "write") from e
            except BaseException as e:
                self._rollback(e)
                raise
        finally:
            self._lock.release()

    def _begin(self) -> None:
        """Open a write transaction; returns holding the instance lock (`_tx` releases it)."""
        if self.readonly:
            raise StorageError("the state database was opened read-only", str(self.path))
        deadline = time.monotonic() + BUSY_TIMEOUT
        attempt = 0
        while True:
            with self._lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    self._wait_or_raise(e, "write", deadline, attempt)
                else:
                    self._lock.acquire()  # held past this block, for the transaction
                    return
            attempt += 1

    def _wait_or_raise(self, e: sqlite3.Error, doing: str, deadline: float, attempt: int) -> None:
        """Raise `e` as ours, unless it is a lock held elsewhere and time is left: then pause.

        Called with the instance lock held once; it is released for the pause, so this store's
        other calls go on while this one waits.
        """
        code = getattr(e, "sqlite_errorcode", None)
        busy = isinstance(code, int) and (code & 0xFF) == sqlite3.SQLITE_BUSY
        left = deadline - time.monotonic()
        if not busy or left <= 0:
            raise _storage_error(e, self.path, doing) from e
        self._lock.release()
        try:
            time.sleep(min(0.001 * 2 ** min(attempt, 6), left))
        finally:
            self._lock.acquire()

    def _rollback(self, error: BaseException) -> None:
        """Undo the open transaction (SQLite may already have, e.g. after SQLITE_FULL)."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as e:
            error.add_note(f"the rollback failed too ({e}); SQLite undoes it on next open")

    def _migrate(self) -> None:
        """Run the migrations not run yet, each in its own transaction (a newer schema was
        refused by `_check_ours`)."""
        version = self.schema_version
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])

    # ------------------------------------------------------------------ feeds

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._query(
            "SELECT name, url, etag, last_modified, last_success, last_attempt, next_check,"
            " consecutive_failures, last_error FROM feeds WHERE name = ?",
            (name,),
        )
        return self._feed_row(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        rows = self._query(
            "SELECT name, url, etag, last_modified, last_success, last_attempt, next_check,"
            " consecutive_failures, last_error FROM feeds ORDER BY name"
        )
        return [self._feed_row(r) for r in rows]

    @staticmethod
    def _feed_row(r: tuple[Any, ...]) -> FeedState:
        return FeedState(
            name=r[0],
            url=r[1],
            etag=r[2],
            last_modified=r[3],
            last_success=_ts(r[4]),
            last_attempt=_ts(r[5]),
            next_check=_ts(r[6]),
            consecutive_failures=r[7],
            last_error=r[8],
        )

    def failing_since(self, name: str) -> datetime | None:
        rows = self._query("SELECT failing_since FROM feeds WHERE name = ?", (name,))
        return _ts(rows[0][0]) if rows else None

    def record_feed_success(
        self,
        name: str,
        url: str,
        *,
        etag: str | None,
        last_modified: str | None,
        now: float,
        next_check: float,
        backlog: bool = False,
    ) -> None:
        """A poll worked (200 or 304); validators are replaced only by new ones. With
        `backlog` (the poll left new items for the next one) they are dropped instead, so
        the next poll reads the whole document again: a 304 would hide the rest."""
        keep = 0 if backlog else 1
        with self._tx() as db:
            db.execute(
                "INSERT INTO feeds (name, url, etag, last_modified, last_attempt, last_success,"
                " next_check, consecutive_failures, failing_since, last_error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)"
                " ON CONFLICT (name) DO UPDATE SET url = excluded.url,"
                " etag = CASE WHEN ? = 0 THEN NULL WHEN feeds.url = excluded.url"
                "   THEN coalesce(excluded.etag, feeds.etag) ELSE excluded.etag END,"
                " last_modified = CASE WHEN ? = 0 THEN NULL WHEN feeds.url = excluded.url"
                "   THEN coalesce(excluded.last_modified, feeds.last_modified)"
                "   ELSE excluded.last_modified END,"
                " last_attempt = excluded.last_attempt, last_success = excluded.last_success,"
                " next_check = excluded.next_check, consecutive_failures = 0,"
                " failing_since = NULL, last_error = NULL",
                (
                    name,
                    url,
                    None if backlog else etag,
                    None if backlog else last_modified,
                    now,
                    now,
                    next_check,
                    keep,
                    keep,
                ),
            )

    def record_feed_failure(
        self, name: str, url: str, *, error: str, now: float, next_check: float
    ) -> int:
        """A poll failed; returns the number of failures in a row."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO feeds (name, url, last_attempt, next_check, consecutive_failures,"
                " failing_since, last_error) VALUES (?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET url = excluded.url,"
                " last_attempt = excluded.last_attempt, next_check = excluded.next_check,"
                " consecutive_failures = feeds.consecutive_failures + 1,"
                " failing_since = coalesce(feeds.failing_since, excluded.failing_since),"
                " last_error = excluded.last_error",
                (name, url, now, next_check, now, error),
            )
            (count,) = db.execute(
                "SELECT consecutive_failures FROM feeds WHERE name = ?", (name,)
            ).fetchone()
        return int(count)

    def validators(self, name: str, url: str) -> tuple[str | None, str | None]:
        """ETag and Last-Modified to send, if they belong to this URL."""
        rows = self._query("SELECT url, etag, last_modified FROM feeds WHERE name = ?", (name,))
        if not rows or rows[0][0] != url:
            return None, None
        return rows[0][1], rows[0][2]

    # ------------------------------------------------------------------ items

    def unseen(self, feed: str, keys: Iterable[str]) -> list[str]:
        """The keys of `feed` not processed before, in the order given."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in self._query(
                    f"SELECT item_key FROM seen_items WHERE feed = ? AND item_key IN ({marks})",
                    (feed, *chunk),
                )
            )
        return [k for k in wanted if k not in seen]

    def record_item(
        self,
        item: Item,
        doc: Document,
        matches: Sequence[Match],
        evidence: Sequence[dict[str, Any]],
        alerts: Sequence[Queued],
        *,
        now: float,
        sketch: Sequence[int] = (),
    ) -> list[str]:
        """Record a processed item, its article, matches and outbox rows in one transaction.

        Returns the ids of alerts newly queued (an alert id already in the outbox, e.g. the
        same article reached through another feed, is not queued twice).
        """
        queued: list[str] = []
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO seen_items (feed, item_key, article_id, first_seen)"
                " VALUES (?, ?, ?, ?)",
                (item.feed, item.key, doc.id, now),
            )
            db.execute(
                "INSERT OR IGNORE INTO articles (id, feed, url, title, text, published, language,"
                " partial, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.id,
                    item.feed,
                    doc.url,
                    doc.title,
                    doc.text,
                    _epoch(doc.published),
                    doc.language,
                    int(doc.partial),
                    now,
                ),
            )
            db.executemany(
                "INSERT INTO sketches (hash, article_id, created) SELECT ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM sketches WHERE article_id = ? AND hash = ?)",
                [(h, doc.id, now, doc.id, h) for h in sketch],
            )
            for match, ev in zip(matches, evidence, strict=True):
                db.execute(
                    "INSERT OR IGNORE INTO matches (article_id, rule, evidence, created)"
                    " VALUES (?, ?, ?, ?)",
                    (doc.id, match.rule, json.dumps(ev, ensure_ascii=False), now),
                )
            for q in alerts:
                if self._insert(db, q, now):
                    queued.append(q.alert.id)
                else:
                    self._add_sources(db, q.alert)
        return queued

    @staticmethod
    def _insert(db: sqlite3.Connection, q: Queued, now: float) -> bool:
        alert = q.alert
        cur = db.execute(
            "INSERT OR IGNORE INTO outbox (id, channel, article_id, payload, batch, created,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                alert.id,
                alert.channel,
                alert.article_id,
                json.dumps(alert.to_dict(), ensure_ascii=False),
                q.batch,
                now,
                q.due if q.due is not None else now,
            ),
        )
        if not cur.rowcount:
            return False
        db.executemany(
            "INSERT OR IGNORE INTO alert_rules (alert_id, channel, rule, batched, created)"
            " VALUES (?, ?, ?, ?, ?)",
            [(alert.id, alert.channel, r.name, int(q.batch is not None), now) for r in alert.rules],
        )
        return True

    @staticmethod
    def _add_sources(db: sqlite3.Connection, alert: Alert) -> None:
        """The same article through another feed: list that feed on the alert not yet sent."""
        row = db.execute(
            "SELECT payload FROM outbox WHERE id = ? AND status = 'pending'"
            " AND leased_until IS NULL",
            (alert.id,),
        ).fetchone()
        if row is None:
            return
        payload = json.loads(row[0])
        sources = list(payload.get("sources") or [payload.get("source")])
        new = [s for s in alert.sources if s not in sources]
        if new:
            payload["sources"] = sources + new
            db.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?",
                (json.dumps(payload, ensure_ascii=False), alert.id),
            )

    def near_duplicate(self, sketch: Sequence[int], *, since: float, min_shared: int) -> str | None:
        """A recent article whose text sketch shares at least `min_shared` values."""
        if not sketch:
            return None
        marks = ",".join("?" * len(sketch))
        rows = self._query(
            f"SELECT article_id, count(DISTINCT hash) AS shared FROM sketches"
            f" WHERE hash IN ({marks}) AND created >= ? GROUP BY article_id"
            " HAVING shared >= ? ORDER BY shared DESC, min(created) LIMIT 1",
            (*sketch, since, min_shared),
        )
        return str(rows[0][0]) if rows else None

    def enqueue(self, alert: Alert | Queued, *, now: float) -> bool:
        """Queue one alert on its own (a notice, a test); False if already queued."""
        q = alert if isinstance(alert, Queued) else Queued(alert)
        with self._tx() as db:
            return self._insert(db, q, now)

    def recent_alerts(self, rule: str, channel: str, *, since: float) -> int:
        """Alerts sent on their own (not in a batch) for `rule` to `channel` since `since`."""
        rows = self._query(
            "SELECT count(*) FROM alert_rules WHERE rule = ? AND channel = ? AND created >= ?"
            " AND batched = 0",
            (rule, channel, since),
        )
        return int(rows[0][0])

    def batch_due(self, channel: str, batch: str) -> float | None:
        """When the open batch `batch` of `channel` goes out (None: no open batch)."""
        rows = self._query(
            "SELECT min(next_attempt_at) FROM outbox WHERE channel = ? AND batch = ?"
            " AND status = 'pending' AND leased_until IS NULL",
            (channel, batch),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    # ------------------------------------------------------------------ notices

    def notice_state(self, subject: str) -> NoticeState:
        rows = self._query(
            "SELECT subject, failures, since, notified, last_error FROM notices WHERE subject = ?",
            (subject,),
        )
        return NoticeState(*rows[0]) if rows else NoticeState(subject)

    def save_notice_state(self, state: NoticeState, notice: Alert | None, *, now: float) -> None:
        """Store a subject's failure state and, in the same transaction, queue its notice."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO notices (subject, failures, since, notified, last_error)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET"
                " failures = excluded.failures, since = excluded.since,"
                " notified = excluded.notified, last_error = excluded.last_error",
                (state.subject, state.failures, state.since, state.notified, state.last_error),
            )
            if notice is not None:
                self._insert(db, Queued(notice), now)

    # ------------------------------------------------------------------ item problems

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
    ) -> int:
        """Record why an item could not be processed whole; returns how many times it has had
        a problem (the pipeline can give up on it after a few).

        `outcome` is ``partial`` (still matched on the feed's own text) or ``failed`` (not
        matched). The latest problem per (feed, item key) is kept. `mark_seen` also records
        the key as seen, in the same transaction, so the item is not tried again.
        """
        if len(error) > ERROR_CHARS:
            error = error[: ERROR_CHARS - 1] + "\u2026"
        with self._tx() as db:
            if mark_seen:
                db.execute(
                    "INSERT OR IGNORE INTO seen_items (feed, item_key, article_id, first_seen)"
                    " VALUES (?, ?, ?, ?)",
                    (feed, item_key, article_id or "", now),
                )
            db.execute(
                "INSERT INTO item_problems (feed, item_key, stage, outcome, error, article_id,"
                " first_at, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (feed, item_key) DO UPDATE SET stage = excluded.stage,"
                " outcome = excluded.outcome, error = excluded.error,"
                " article_id = coalesce(excluded.article_id, item_problems.article_id),"
                " at = excluded.at, occurrences = item_problems.occurrences + 1",
                (feed, item_key, stage, outcome, error, article_id, now, now),
            )
            (count,) = db.execute(
                "SELECT occurrences FROM item_problems WHERE feed = ? AND item_key = ?",
                (feed, item_key),
            ).fetchone()
        return int(count)

    _PROBLEMS = 3  # the migration that made item_problems (a read-only store may be older)

    def item_problems(self, feed: str | None = None, *, limit: int = 20) -> list[ItemProblemRow]:
        """The latest item problems, newest first (of one feed, or of all)."""
        if self.schema_version < self._PROBLEMS:
            return []
        cols = "feed, item_key, stage, outcome, error, article_id, first_at, at, occurrences"
        if feed is None:
            rows = self._query(
                f"SELECT {cols} FROM item_problems ORDER BY at DESC, feed, item_key LIMIT ?",
                (limit,),
            )
        else:
            rows = self._query(
                f"SELECT {cols} FROM item_problems WHERE feed = ?"
                " ORDER BY at DESC, item_key LIMIT ?",
                (feed, limit),
            )
        return [ItemProblemRow(*r) for r in rows]

    def item_problem_counts(self, *, since: float) -> dict[str, tuple[int, int]]:
        """Per feed, items with a problem recorded since `since`: (partial, failed)."""
        if self.schema_version < self._PROBLEMS:
            return {}
        rows = self._query(
            "SELECT feed, sum(outcome = 'partial'), sum(outcome = 'failed') FROM item_problems"
            " WHERE at >= ? GROUP BY feed ORDER BY feed",
            (since,),
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def prune(self, *, before: float) -> int:
        """Forget article text, matches, item problems and settled deliveries older than
        `before`.

        Seen-item keys are kept (they stop an old item still in a feed from alerting again),
        and nothing that is still waiting to be sent is touched. Returns articles removed.
        """
        with self._tx() as db:
            old = (
                "SELECT id FROM articles WHERE created < ? AND id NOT IN"
                " (SELECT article_id FROM outbox WHERE status = 'pending')"
            )
            db.execute(f"DELETE FROM matches WHERE article_id IN ({old})", (before,))
            db.execute("DELETE FROM sketches WHERE created < ?", (before,))
            cur = db.execute(f"DELETE FROM articles WHERE id IN ({old})", (before,))
            settled = "SELECT id FROM outbox WHERE status != 'pending' AND created < ?"
            for table, column in (("delivery_attempts", "alert_id"), ("alert_rules", "alert_id")):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({settled})", (before,))
            db.execute("DELETE FROM outbox WHERE status != 'pending' AND created < ?", (before,))
            db.execute("DELETE FROM item_problems WHERE at < ?", (before,))
            return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        out = {"seen_items": 0, "articles": 0, "matches": 0}
        for table in out:
            out[table] = int(self._query(f"SELECT count(*) FROM {table}")[0][0])
        for status, n in self._query("SELECT status, count(*) FROM outbox GROUP BY status"):
            out[f"outbox_{status}"] = int(n)
        return out

    # ------------------------------------------------------------------ outbox

    _OUTBOX_COLS = (
        "id, channel, article_id, payload, batch, status, attempts, created, next_attempt_at,"
        " sent_at, last_error"
    )

    @staticmethod
    def _outbox_row(r: tuple[Any, ...]) -> OutboxRow:
        return OutboxRow(
            id=r[0],
            channel=r[1],
            article_id=r[2],
            alert=Alert.from_dict(json.loads(r[3])),
            batch=r[4],
            status=r[5],
            attempts=r[6],
            created=r[7],
            next_attempt_at=r[8],
            sent_at=r[9],
            last_error=r[10],
        )

    _DUE = (
        "status = 'pending' AND next_attempt_at <= ?"
        " AND (leased_until IS NULL OR leased_until <= ?)"
    )

    def claim_next(self, channel: str, *, now: float, lease: float) -> list[OutboxRow]:
        """Lease what `channel` sends next: its oldest due alert, or the whole batch it is in.

        The lease is committed before anything is sent: if the process dies mid-send the
        rows become due again (at once after a restart) and go out with the same ids.
        """
        with self._tx() as db:
            first = db.execute(
                f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE channel = ? AND {self._DUE}"
                " ORDER BY next_attempt_at, created, rowid LIMIT 1",
                (channel, now, now),
            ).fetchone()
            if first is None:
                return []
            rows = [first]
            if first[4] is not None:
                rows = db.execute(
                    f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE channel = ? AND batch = ?"
                    f" AND {self._DUE} ORDER BY created, rowid",
                    (channel, first[4], now, now),
                ).fetchall()
            db.executemany(
                "UPDATE outbox SET leased_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(now + lease, r[0]) for r in rows],
            )
        return [replace(self._outbox_row(r), attempts=r[6] + 1) for r in rows]

    def release_leases(self) -> int:
        """Free leases left by a process that died mid-send (call with the instance lock held)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE outbox SET leased_until = NULL"
                " WHERE status = 'pending' AND leased_until IS NOT NULL"
            )
            return int(cur.rowcount)

    def lock_instance(self) -> None:
        """Take the database for this process; a second `monitor run` on it is refused."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock:
            if self.readonly:
                raise StorageError("the state database was opened read-only", str(self.path))
            try:
                handle = lock_path.open("a+")
            except OSError as e:
                raise StorageError("cannot create the lock file", str(lock_path)) from e
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                handle.close()
                raise StorageError(
                    "another monitor process is using this database",
                    str(self.path),
                    hint="stop it first, or give this one its own --db",
                ) from e
            try:
                handle.truncate(0)
                handle.write(f"{os.getpid()}\n")
                handle.flush()
            except OSError as e:
                handle.close()
                raise StorageError("cannot write the lock file", str(lock_path)) from e
            self._lock_file = handle

    def mark_sent(self, ids: Sequence[str], *, now: float, status_code: int | None) -> None:
        """The channel accepted these (one alert, or one batch): never send them again."""
        self._settle(
            ids,
            "sent",
            "status = 'sent', sent_at = ?, last_error = NULL",
            (now,),
            now=now,
            status_code=status_code,
            error=None,
        )

    def mark_retry(
        self,
        ids: Sequence[str],
        *,
        now: float,
        next_attempt_at: float,
        error: str,
        status_code: int | None,
    ) -> None:
        self._settle(
            ids,
            "retry",
            "next_attempt_at = ?, last_error = ?",
            (next_attempt_at, error),
            now=now,
            status_code=status_code,
            error=error,
        )

    def mark_failed(
        self, ids: Sequence[str], *, now: float, error: str, status_code: int | None
    ) -> None:
        self._settle(
            ids,
            "failed",
            "status = 'failed', last_error = ?",
            (error,),
            now=now,
            status_code=status_code,
            error=error,
        )

    def _settle(
        self,
        ids: Sequence[str],
        outcome: str,
        assignments: str,
        values: tuple[Any, ...],
        *,
        now: float,
        status_code: int | None,
        error: str | None,
    ) -> None:
        """End the lease on `ids` with `outcome`, in one transaction, recording each attempt."""
        with self._tx() as db:
            for alert_id in ids:
                db.execute(
                    f"UPDATE outbox SET {assignments}, leased_until = NULL"
                    " WHERE id = ? AND status = 'pending'",
                    (*values, alert_id),
                )
                self._attempt(db, alert_id, now, outcome, status_code, error)

    @staticmethod
    def _attempt(
        db: sqlite3.Connection,
        alert_id: str,
        now: float,
        outcome: str,
        status_code: int | None,
        error: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO delivery_attempts (alert_id, channel, at, outcome, status_code, error)"
            " SELECT id, channel, ?, ?, ?, ? FROM outbox WHERE id = ?",
            (now, outcome, status_code, error, alert_id),
        )

    def retry_failed(self, alert_id: str | None = None, *, now: float) -> int:
        """Put failed alerts (one, or all) back in the queue; returns how many."""
        with self._tx() as db:
            if alert_id is None:
                cur = db.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?"
                    " WHERE status = 'failed'",
                    (now,),
                )
            else:
                cur = db.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?"
                    " WHERE id = ? AND status = 'failed'",
                    (now, alert_id),
                )
            return int(cur.rowcount)

    def outbox(self, status: str | None = None, limit: int = 50) -> list[OutboxRow]:
        if status:
            rows = self._query(
                f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE status = ?"
                " ORDER BY created DESC LIMIT ?",
                (status, limit),
            )
        else:
            rows = self._query(
                f"SELECT {self._OUTBOX_COLS} FROM outbox ORDER BY created DESC LIMIT ?", (limit,)
            )
        return [self._outbox_row(r) for r in rows]

    def attempts(self, alert_id: str) -> list[AttemptRow]:
        rows = self._query(
            "SELECT alert_id, channel, at, outcome, status_code, error FROM delivery_attempts"
            " WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [AttemptRow(*r) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest pending alert is due (None when nothing is pending)."""
        rows = self._query(
            "SELECT min(max(next_attempt_at, coalesce(leased_until, 0))) FROM outbox"
            " WHERE status = 'pending'"
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None
