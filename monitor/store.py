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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from monitor.deliver.ids import alert_id
from monitor.errors import StorageError
from monitor.models import (
    Alert,
    Claim,
    Document,
    FeedSlot,
    FeedState,
    Item,
    Match,
    PollOutcome,
)

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
    # 4: the polling schedule and each feed's health live in its row (claimed with a lease)
    """
    ALTER TABLE feeds ADD COLUMN host TEXT;
    ALTER TABLE feeds ADD COLUMN interval REAL;
    ALTER TABLE feeds ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE feeds ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN moved_to TEXT;
    ALTER TABLE feeds ADD COLUMN body_hash TEXT;
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
    ALTER TABLE feeds ADD COLUMN lease_until REAL;
    ALTER TABLE feeds ADD COLUMN last_status TEXT;
    ALTER TABLE feeds ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN not_modified INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN new_items INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN last_new_item REAL;
    ALTER TABLE feeds ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN last_lateness REAL;
    ALTER TABLE feeds ADD COLUMN lateness_sum REAL NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN ttl REAL;
    CREATE INDEX seen_items_article ON seen_items (feed, article_id);
    CREATE INDEX feeds_due ON feeds (next_check) WHERE active = 1 AND gone = 0;
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


def _kept_row(s: FeedSlot, now: float, due: float) -> tuple[Any, ...]:
    """`sync_feeds`' parameters for a feed already scheduled (see its UPDATE)."""
    return (
        s.host,
        s.interval,
        s.min_interval,
        s.max_interval,
        due,
        now + s.max_interval,
        due,
        s.name,
    )


def follow_up_id(alert: Alert) -> str:
    """The id of the alert telling `alert`'s story again for the feeds it lists, once the
    first alert of that story went out without them (stable, like every alert id)."""
    return alert_id("\x1f".join((alert.article_id, *alert.sources)), alert.channel)


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

    _FEED_COLUMNS = (
        "name, url, etag, last_modified, last_success, last_attempt, next_check,"
        " consecutive_failures, last_error, interval, last_status, moved_to, gone, active,"
        " polls, not_modified, new_items, last_new_item, failures, last_lateness, lateness_sum"
    )

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._query(f"SELECT {self._FEED_COLUMNS} FROM feeds WHERE name = ?", (name,))
        return self._feed_row(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        rows = self._query(f"SELECT {self._FEED_COLUMNS} FROM feeds ORDER BY name")
        return [self._feed_row(r) for r in rows]

    @staticmethod
    def _feed_row(r: tuple[Any, ...]) -> FeedState:
        polls = int(r[14])
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
            interval=r[9],
            last_status=r[10],
            moved_to=r[11],
            gone=bool(r[12]),
            active=bool(r[13]),
            polls=polls,
            not_modified=r[15],
            new_items=r[16],
            last_new_item=_ts(r[17]),
            failures=r[18],
            last_lateness=r[19],
            mean_lateness=r[20] / polls if polls else None,
        )

    def failing_since(self, name: str) -> datetime | None:
        rows = self._query("SELECT failing_since FROM feeds WHERE name = ?", (name,))
        return _ts(rows[0][0]) if rows else None

    def sync_feeds(
        self,
        feeds: Sequence[FeedSlot],
        *,
        now: float,
        first_due: Callable[[FeedSlot, int], float],
    ) -> int:
        """Make the feeds table hold exactly these feeds as active (a start or a reload).

        A feed new to the table is first due at `first_due(slot, count)` (`count`: how many
        are placed at once), so that due times spread out rather than all falling at once.
        A feed whose URL changed in feeds.yaml starts afresh (validators, a permanent
        redirect, a 410 are forgotten) and is due at `first_due` too. Stored due times of
        the others stay (a restart resumes the schedule, backoffs included), but a feed in
        good health is due within one `slot.max_interval` (the operator shortened it).
        Feeds no longer listed are kept (their history) but never claimed. Returns how many
        feeds were added.
        """
        wanted = {slot.name: slot for slot in feeds}
        with self._tx() as db:
            stored = {
                r[0]: (r[1], r[2])
                for r in db.execute("SELECT name, url, next_check FROM feeds").fetchall()
            }
            db.execute("UPDATE feeds SET active = 0 WHERE active = 1")
            added = [s for s in wanted.values() if s.name not in stored]
            moved = [s for s in wanted.values() if s.name in stored and stored[s.name][0] != s.url]
            placed = len(added) + len(moved)
            db.executemany(
                "INSERT INTO feeds (name, url, host, interval, next_check, active)"
                " VALUES (?, ?, ?, ?, ?, 1)",
                [(s.name, s.url, s.host, s.interval, first_due(s, placed)) for s in added],
            )
            db.executemany(
                "UPDATE feeds SET url = ?, host = ?, interval = ?, next_check = ?, active = 1,"
                " etag = NULL, last_modified = NULL, moved_to = NULL, gone = 0, body_hash = NULL,"
                " consecutive_failures = 0, failing_since = NULL, last_error = NULL"
                " WHERE name = ?",
                [(s.url, s.host, s.interval, first_due(s, placed), s.name) for s in moved],
            )
            kept = [s for s in wanted.values() if s.name in stored and stored[s.name][0] == s.url]
            db.executemany(
                "UPDATE feeds SET active = 1, host = ?,"
                " interval = min(max(max(coalesce(ttl, 0), ?), ?), ?),"
                " next_check = CASE WHEN next_check IS NULL THEN ?"
                "   WHEN next_check > ? AND consecutive_failures = 0"
                "   AND coalesce(last_status, '') != 'rate_limited' THEN ? ELSE next_check END"
                " WHERE name = ?",
                [_kept_row(s, now, first_due(s, 1)) for s in kept],
            )
        return len(added)

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
    ) -> list[Claim]:
        """Take up to `limit` feeds due by `now`, earliest first, for `owner` until `now +
        lease` (another owner cannot take them meanwhile; a lease left by a process that
        died runs out): at most `per_host` of one host, none of `skip_hosts`. With `names`,
        those feeds, due or not (``run --once``).

        On PostgreSQL the same statement selects with FOR UPDATE SKIP LOCKED.
        """
        if names:
            where = f"name IN ({','.join('?' * len(names))})"
            params: list[Any] = [*names]
        else:
            where = "next_check <= ?"
            params = [now]
        if skip_hosts:
            where += f" AND coalesce(host, '') NOT IN ({','.join('?' * len(skip_hosts))})"
            params += skip_hosts
        with self._tx() as db:
            rows = db.execute(
                "UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE name IN ("
                " SELECT name FROM (SELECT name, next_check, row_number() OVER"
                "   (PARTITION BY host ORDER BY next_check) AS nth"
                f"  FROM feeds WHERE active = 1 AND gone = 0 AND {where}"
                "  AND (lease_until IS NULL OR lease_until <= ?))"
                " WHERE nth <= ? ORDER BY next_check LIMIT ?)"
                " RETURNING name, url, coalesce(moved_to, url), next_check, interval, etag,"
                " last_modified, consecutive_failures, body_hash, coalesce(host, ''), ttl",
                (owner, now + lease, *params, now, per_host or limit, limit),
            ).fetchall()
        claims = [
            Claim(
                name=r[0],
                url=r[1],
                poll_url=r[2],
                due=r[3] if r[3] is not None else now,
                interval=r[4] or 0.0,
                etag=r[5],
                last_modified=r[6],
                failures=r[7],
                body_hash=r[8],
                host=r[9],
                ttl=r[10],
            )
            for r in rows
        ]
        claims.sort(key=lambda c: c.due)
        return claims

    def record_polls(self, outcomes: Sequence[PollOutcome]) -> None:
        """Write what polls did (a batch, one transaction) and free their leases."""
        with self._tx() as db:
            for o in outcomes:
                self._record_poll(db, o)

    @staticmethod
    def _record_poll(db: sqlite3.Connection, o: PollOutcome) -> None:
        db.execute(
            "INSERT INTO feeds (name, url, next_check, interval) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET next_check = excluded.next_check,"
            " interval = excluded.interval, lease_owner = NULL, lease_until = NULL",
            (o.name, o.url, o.next_check, o.interval),
        )
        if o.status == "postponed":
            return
        db.execute(
            "UPDATE feeds SET last_attempt = ?, last_status = ?, polls = polls + 1,"
            " last_lateness = ?, lateness_sum = lateness_sum + ?,"
            " moved_to = coalesce(?, moved_to) WHERE name = ?",
            (o.started, o.status, o.lateness, o.lateness, o.moved_to, o.name),
        )
        if o.status in ("ok", "not_modified", "unchanged"):
            keep = int(o.keep_validators)
            db.execute(
                "UPDATE feeds SET last_success = ?, consecutive_failures = 0,"
                " failing_since = NULL, last_error = NULL,"
                " not_modified = not_modified + ?,"
                " new_items = new_items + ?,"
                " last_new_item = CASE WHEN ? > 0 THEN ? ELSE last_new_item END,"
                " etag = CASE WHEN ? = 0 THEN NULL WHEN ? THEN ? ELSE coalesce(?, etag) END,"
                " last_modified = CASE WHEN ? = 0 THEN NULL WHEN ? THEN ?"
                "   ELSE coalesce(?, last_modified) END,"
                " body_hash = CASE WHEN ? = 0 THEN NULL ELSE coalesce(?, body_hash) END,"
                " ttl = CASE WHEN ? THEN ? ELSE ttl END"
                " WHERE name = ?",
                (
                    o.started,
                    int(o.status == "not_modified"),
                    o.new_items,
                    o.new_items,
                    o.started,
                    keep,
                    int(o.moved_to is not None),
                    o.etag,
                    o.etag,
                    keep,
                    int(o.moved_to is not None),
                    o.last_modified,
                    o.last_modified,
                    keep,
                    o.body_hash,
                    int(o.status == "ok"),
                    o.ttl,
                    o.name,
                ),
            )
        elif o.status == "failed":
            db.execute(
                "UPDATE feeds SET consecutive_failures = consecutive_failures + 1,"
                " failures = failures + 1, failing_since = coalesce(failing_since, ?),"
                " last_error = ? WHERE name = ?",
                (o.started, o.error, o.name),
            )
        else:  # rate_limited, gone: told, not counted as failures
            db.execute(
                "UPDATE feeds SET last_error = ?, gone = ? WHERE name = ?",
                (o.error, int(o.status == "gone"), o.name),
            )

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

    def mark_seen(self, feed: str, items: Sequence[tuple[str, str]], *, now: float) -> None:
        """Record (item key, article id) pairs of `feed` as seen without reading them (items
        older than the feed's max_age)."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO seen_items (feed, item_key, article_id, first_seen)"
                " VALUES (?, ?, ?, ?)",
                [(feed, key, article, now) for key, article in items],
            )

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
                elif not self._add_sources(db, q.alert):
                    # that alert is out already: this feed's item is told on its own
                    later = replace(q, alert=replace(q.alert, id=follow_up_id(q.alert)))
                    if self._insert(db, later, now):
                        queued.append(later.alert.id)
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
    def _add_sources(db: sqlite3.Connection, alert: Alert) -> bool:
        """The same article through another feed: list that feed on the alert not yet sent.
        False when the alert is being sent or was sent (the feed cannot join it)."""
        row = db.execute(
            "SELECT payload FROM outbox WHERE id = ? AND status = 'pending'"
            " AND leased_until IS NULL",
            (alert.id,),
        ).fetchone()
        if row is None:
            return False
        payload = json.loads(row[0])
        sources = list(payload.get("sources") or [payload.get("source")])
        new = [s for s in alert.sources if s not in sources]
        if new:
            payload["sources"] = sources + new
            db.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?",
                (json.dumps(payload, ensure_ascii=False), alert.id),
            )
        return True

    def article_taken(self, feed: str, article_id: str, item_key: str) -> bool:
        """Whether another item of `feed` was already recorded as article `article_id`."""
        rows = self._query(
            "SELECT 1 FROM seen_items WHERE feed = ? AND article_id = ? AND item_key != ? LIMIT 1",
            (feed, article_id, item_key),
        )
        return bool(rows)

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
        """Free leases left by a process that died mid-send or mid-poll (call with the
        instance lock held); returns the number of alerts freed."""
        with self._tx() as db:
            db.execute(
                "UPDATE feeds SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_until IS NOT NULL"
            )
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
