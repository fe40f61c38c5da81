"""The PostgreSQL backend: several daemons on one database (PostgreSQL 13+, psycopg 3).

A pool of connections, one per store thread (`concurrency`). Each write is one transaction
that waits at most `LOCK_TIMEOUT` for a lock another holds. Claims select with ``FOR UPDATE
SKIP LOCKED``: two daemons claiming at once take different feeds and alerts, and neither
waits for the other. The noise policy's counts are taken under a transaction-level advisory
lock per channel, so two daemons recording alerts for one channel take turns.

Whose database it is: the table ``news_monitor`` holds the application id (the same
0x4E4D4F4E as SQLite's ``application_id``) and the schema version (the number of the last
file of ``migrations/postgres`` applied). A database with tables but without that row is
refused and left as it was. Migrations run at start-up under a session advisory lock, so
daemons starting together apply each one once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from monitor.errors import StorageError
from monitor.store.inbox import SearchTerms, websearch_text
from monitor.store.migrations import load
from monitor.store.sql import Conn, Cursor, SqlStore

APPLICATION_ID = 0x4E4D4F4E  # b"NMON", as SQLite's PRAGMA application_id
MIGRATIONS = load("postgres")
LOCK_TIMEOUT = "5s"  # a lock held longer than this fails the write (it is tried again later)
CONNECT_TIMEOUT = 10  # seconds to reach the server
POOL_TIMEOUT = 30.0  # seconds a call waits for a free pooled connection
CONCURRENCY = 4  # pooled connections, and store threads calling them
CLAIM_WINDOW = 8  # a claim locks up to this many times its limit of due feeds to pick from

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact_url(url: str) -> str:
    """`url` with any password replaced, for logs and messages."""
    return _PASSWORD.sub(r"\1***@", url)


@functools.lru_cache(maxsize=512)
def _sql(statement: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return statement.replace("%", "%%").replace("?", "%s")


class _Conn:
    """A psycopg connection as the shared SQL expects it (`sql.Conn`)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self._conn.execute(_sql(sql), tuple(params))

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any:
        rows = [tuple(p) for p in params]
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(_sql(sql), rows)


def _storage_error(e: Exception, where: str, doing: str) -> StorageError:
    """The operator's reading of a PostgreSQL failure."""
    if isinstance(e, PoolTimeout):
        return StorageError(
            f"no connection to PostgreSQL within {POOL_TIMEOUT:g} s; this {doing} did not happen",
            where,
            hint="check that the server is up and reachable, and its max_connections",
        )
    if isinstance(e, pg_errors.DiskFull):
        return StorageError(
            f"disk full on the PostgreSQL server: this {doing} was rolled back",
            where,
            hint="free space on the server; what was recorded before is kept",
        )
    if isinstance(e, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return StorageError(
            f"a lock was held by another session for over {LOCK_TIMEOUT}; this {doing} did"
            " not happen",
            where,
            hint="a long transaction holds rows news-monitor needs (a manual session, a"
            " backup, a migration): end it",
        )
    if isinstance(e, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return StorageError(
            f"this {doing} collided with another daemon's; tried again later", where
        )
    if isinstance(e, pg_errors.ReadOnlySqlTransaction):
        return StorageError(
            f"the database was opened read-only, this {doing} did not happen", where
        )
    if isinstance(e, pg_errors.InsufficientPrivilege):
        return StorageError(
            f"PostgreSQL refused this {doing}: permission denied",
            where,
            hint="grant the role the service connects as rights on its database",
        )
    if isinstance(e, psycopg.OperationalError):
        return StorageError(
            f"cannot reach PostgreSQL ({_first_line(e)}); this {doing} did not happen",
            where,
            hint="check that the server is up, the URL (host, port, database, user) and"
            " the credentials",
        )
    return StorageError(f"database {doing} failed: {_first_line(e)}", where)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return redact_url(text.splitlines()[0]) if text else type(e).__name__


def retryable(error: StorageError) -> bool:
    """True when the same work can be tried later: the server unreachable, a lock held, a
    collision with another daemon, a full disk."""
    cause = error.__cause__
    return isinstance(cause, psycopg.OperationalError | PoolTimeout) and not isinstance(
        cause, pg_errors.InsufficientPrivilege
    )


class PostgresStore(SqlStore):
    """The state database in PostgreSQL, shared by every daemon that points at it."""

    LEAST = "least"
    GREATEST = "greatest"
    ROW_ORDER = "seq"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    STEERING_SCHEMA = 2
    INBOX_SCHEMA = 3
    concurrency = CONCURRENCY

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        options = f"-c lock_timeout={LOCK_TIMEOUT}"
        if readonly:
            options += " -c default_transaction_read_only=on"
        settings: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT,
            "options": options,
            "application_name": "news-monitor",
        }
        try:  # once, directly: the pool would retry a refused connection until its timeout
            psycopg.connect(url, **settings).close()
        except psycopg.Error as e:
            raise _storage_error(e, self.location, "connection") from e
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=CONCURRENCY,
            kwargs=settings,
            check=ConnectionPool.check_connection,  # one the server cut is replaced, not used
            timeout=POOL_TIMEOUT,
            open=False,
            name="news-monitor",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT + 5)
        except PoolTimeout as e:
            self._pool.close()
            raise StorageError(
                "cannot connect to PostgreSQL",
                self.location,
                hint="check that the server is up, the URL (host, port, database, user) and"
                " the credentials",
            ) from e
        try:
            self._check_ours()
            if not readonly:
                self._migrate()
        except BaseException:
            self._pool.close()
            raise

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _connection(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as e:
            raise _storage_error(e, self.location, doing) from e

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection("read") as conn:
            cur = conn.execute(_sql(sql), tuple(params))
            return list(cur.fetchall()) if cur.description is not None else []

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        if self.readonly:
            raise StorageError("the state database was opened read-only", self.location)
        with self._connection("write") as conn, conn.transaction():
            yield _Conn(conn)

    def _take_turns(self, db: Conn, subjects: Sequence[str]) -> None:
        for subject in subjects:  # sorted by the caller: two transactions never wait in a circle
            db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (APPLICATION_ID, subject))

    def _claim_feeds(self, db: Conn, where: str, params: list[Any]) -> list[Any]:
        owner, until, *rest = params
        *where_params, now, per_host, limit = rest
        return db.execute(
            "WITH free AS (SELECT name, host, next_check FROM feeds"
            f" WHERE active = 1 AND gone = 0 AND {where}"
            " AND (lease_until IS NULL OR lease_until <= ?)"
            " ORDER BY next_check LIMIT ? FOR UPDATE SKIP LOCKED),"
            " ranked AS (SELECT name, next_check, row_number() OVER"
            "  (PARTITION BY host ORDER BY next_check) AS nth FROM free)"
            " UPDATE feeds SET claimed_by = ?, lease_until = ? WHERE name IN"
            " (SELECT name FROM ranked WHERE nth <= ? ORDER BY next_check LIMIT ?)"
            f" RETURNING {self._CLAIM_COLUMNS}",
            (*where_params, now, limit * CLAIM_WINDOW, owner, until, per_host, limit),
        ).fetchall()

    # ------------------------------------------------------------------ schema

    def _check_ours(self) -> None:
        """Refuse a database that holds tables but is not news-monitor's, or whose schema is
        newer than this program."""
        rows = self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        names = {r[0] for r in rows}
        if "news_monitor" not in names:
            if names:
                shown = ", ".join(repr(n) for n in sorted(names)[:3])
                raise StorageError(
                    "this database is not news-monitor's: it holds tables news-monitor does"
                    f" not make ({shown}{', ...' if len(names) > 3 else ''}); it was left"
                    " unchanged",
                    self.location,
                    hint="give news-monitor a database of its own",
                )
            if self.readonly:
                raise StorageError(
                    "the state database is empty (the service has not run)", self.location
                )
            return
        app_id, version = self._query("SELECT application_id, version FROM news_monitor")[0]
        if int(app_id) != APPLICATION_ID:
            raise StorageError(
                f"this database is not news-monitor's: its application id is {app_id:#010x}",
                self.location,
            )
        if int(version) > len(MIGRATIONS):
            raise StorageError(
                f"database schema version {version} is newer than this program ({len(MIGRATIONS)})",
                self.location,
                hint="upgrade news-monitor",
            )

    def _migrate(self) -> None:
        """Apply the migrations not applied yet, each in its own transaction, holding a
        session advisory lock so that daemons starting together take turns."""
        with self._connection("migration") as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (APPLICATION_ID,))
            try:
                with conn.transaction():
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS news_monitor ("
                        " one INTEGER PRIMARY KEY DEFAULT 1 CHECK (one = 1),"
                        " application_id BIGINT NOT NULL, version INTEGER NOT NULL)"
                    )
                    conn.execute(
                        "INSERT INTO news_monitor (application_id, version) VALUES (%s, 0)"
                        " ON CONFLICT DO NOTHING",
                        (APPLICATION_ID,),
                    )
                row = conn.execute("SELECT version FROM news_monitor").fetchone()
                version = int(row[0]) if row else 0
                for migration in MIGRATIONS[version:]:
                    with conn.transaction():
                        for statement in migration.statements():
                            conn.execute(statement.replace("%", "%%"))
                        conn.execute("UPDATE news_monitor SET version = %s", (migration.number,))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (APPLICATION_ID,))

    @property
    def schema_version(self) -> int:
        if not self._query("SELECT 1 WHERE to_regclass('news_monitor') IS NOT NULL"):
            return 0
        return int(self._query("SELECT version FROM news_monitor")[0][0])

    def integrity_check(self) -> str:
        """PostgreSQL checks its pages itself; this says whether the schema is complete."""
        missing = {"feeds", "seen_items", "articles", "outbox", "daemons"} - {
            r[0]
            for r in self._query(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        }
        return "ok" if not missing else f"missing tables: {', '.join(sorted(missing))}"

    def _search_ids(self, terms: SearchTerms, *, limit: int, offset: int) -> list[str]:
        """The generated tsvector and its GIN index ('simple': every language alike), the
        query folded by the same `search_fold` as the text."""
        rows = self._query(
            "SELECT id FROM articles WHERE search @@"
            " websearch_to_tsquery('simple', search_fold(?))"
            " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            (websearch_text(terms), limit, offset),
        )
        return [str(r[0]) for r in rows]
