"""The SQLite backend: the embedded default, one file in WAL mode.

One connection per store, shared by threads under a lock; several processes (daemons, the
CLI) may use one file at once: SQLite's write lock makes their transactions take turns, and
a call waits for it (the lock released meanwhile) up to `BUSY_TIMEOUT`.

Whose file it is: every news-monitor database carries ``PRAGMA application_id`` 0x4E4D4F4E
(the ASCII of ``NMON``). Before anything is written, the file is looked at through a
connection that cannot change it or leave files beside it: a file with another id, or
without ours and with tables other than the first schema's, is refused and left as it was.
Databases made before the id existed (id 0, schema 1, our tables) are adopted by migration 2.
The schema version is ``PRAGMA user_version``: the number of the last migration applied.

Failures are told apart for the operator (see `_storage_error`): disk full, locked by another
process (after `BUSY_TIMEOUT`), corrupt or not SQLite, read-only; a failed write is rolled
back whole, so what was committed before stays.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.errors import StorageError
from monitor.store.inbox import SearchTerms, fts5_query
from monitor.store.migrations import load
from monitor.store.sql import Conn, SqlStore

APPLICATION_ID = 0x4E4D4F4E  # b"NMON": the PRAGMA application_id of every news-monitor database

# How long a call waits for a write lock another process holds before it fails. Our own
# transactions last milliseconds; a lock held longer is a sqlite3 shell, a VACUUM or a
# backup. Calls run in worker threads, so the wait never holds the event loop.
BUSY_TIMEOUT = 5.0

SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file

MIGRATIONS = load("sqlite")

# The tables and indexes of schema 1: with application_id 0 and user_version 1, a file holding
# exactly these is a news-monitor database made before the id was set.
FIRST_SCHEMA = frozenset(re.findall(r"CREATE (?:TABLE|INDEX) (\w+)", MIGRATIONS[0].script))


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


class SQLiteStore(SqlStore):
    """The state database in one SQLite file: one connection, shared by threads.

    Every public method takes the instance lock for its SQL work, so calls from several threads
    are serialised on the one connection. While another process holds a lock a call needs,
    the call waits with the instance lock released (other calls go on), up to `BUSY_TIMEOUT`.
    A store opened with ``readonly=True`` (for commands that only read) never migrates,
    creates or changes anything, and reads beside a running service.
    """

    PROBLEMS_SCHEMA = 3
    DAEMONS_SCHEMA = 5
    STEERING_SCHEMA = 6
    INBOX_SCHEMA = 7

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
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

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
    def _tx(self) -> Iterator[Conn]:
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
        """Run the migrations not run yet, each in its own write transaction that first reads
        the version: processes starting together on one file take turns, and each migration
        runs once (a newer schema was refused by `_check_ours`)."""
        while True:
            with self._tx() as db:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version >= len(MIGRATIONS):
                    return
                migration = MIGRATIONS[version]
                for statement in migration.statements():
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {migration.number}")

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])

    def _search_ids(self, terms: SearchTerms, *, limit: int, offset: int) -> list[str]:
        """FTS5, newest first: the index is read in descending rowid (insertion) order and
        stops after the page, so a common word costs no more than a rare one."""
        rows = self._query(
            "SELECT a.id FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?"
            " ORDER BY rowid DESC LIMIT ? OFFSET ?) AS f JOIN articles a ON a.rowid = f.rowid"
            " ORDER BY f.rowid DESC",
            (fts5_query(terms), limit, offset),
        )
        return [str(r[0]) for r in rows]
