"""Copy the whole state from one database to another (`monitor migrate-state`).

The case that matters is SQLite to PostgreSQL, when a newsroom scales out; PostgreSQL back to
SQLite (a rollback) and SQLite to SQLite work the same way. Every table is copied except
``daemons`` (the destination's daemons register themselves when they start).

How, and what it keeps:
- The source is opened read-only (a SQLite file that does not exist is not created) and read
  page by page in key order, so a big database never sits in memory whole.
- The destination is written in ONE transaction, so a copy that fails (or whose row counts do
  not match at the end) leaves it as empty as it was.
- The outbox keeps its ids, status, attempts, due times and payloads, and its insertion order
  (which `claim_next` follows among alerts due at the same time): it is read in the source's
  row order and inserted in that order. Delivery attempts keep their order too (their ids are
  numbered again by the destination). Seen items all come along, so nothing already seen
  alerts again; pending alerts stay pending (the new daemons send them), sent ones stay sent.
- Every claim (``claimed_by``, ``lease_until`` of feeds and alerts) is cleared in the copy: the
  daemons that held them work on the source, not here.

It refuses, changing nothing, when the source does not exist or has an older schema, a daemon
is live on the source or the destination, both name the same database, or the destination
already holds state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from monitor.errors import StorageError
from monitor.store import is_postgres, open_store, sqlite_path
from monitor.store.sql import Conn, SqlStore

ROWS_PER_PAGE = 2000  # rows read from the source at once
ARTICLES_PER_PAGE = 200  # article rows hold whole texts


@dataclass(frozen=True)
class Table:
    """One table as it is copied.

    `columns` are copied as they are; `left_out` are not: claims (cleared in the copy) and ids
    the destination numbers itself. `key` orders the reading (and pages it); it need not be
    unique (a page always ends after the last row of its last key). A key of None is the
    outbox's insertion order: the backend's `SqlStore.ROW_ORDER` (SQLite's rowid,
    PostgreSQL's ``seq``).
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...] | None
    left_out: tuple[str, ...] = ()
    per_page: int = ROWS_PER_PAGE


# Parents before children (matches, alert_rules and delivery_attempts reference rows copied
# before them).
TABLES = (
    Table(
        "feeds",
        (
            "name",
            "url",
            "etag",
            "last_modified",
            "last_attempt",
            "last_success",
            "next_check",
            "consecutive_failures",
            "failing_since",
            "last_error",
            "host",
            "interval",
            "active",
            "gone",
            "moved_to",
            "body_hash",
            "last_status",
            "polls",
            "not_modified",
            "new_items",
            "last_new_item",
            "failures",
            "last_lateness",
            "lateness_sum",
            "ttl",
        ),
        ("name",),
        left_out=("claimed_by", "lease_until"),
    ),
    Table("seen_items", ("feed", "item_key", "article_id", "first_seen"), ("feed", "item_key")),
    Table(
        "articles",
        ("id", "feed", "url", "title", "text", "published", "language", "partial", "created"),
        ("id",),
        left_out=("search",),  # PostgreSQL's search index, generated from title and text
        per_page=ARTICLES_PER_PAGE,
    ),
    Table("matches", ("article_id", "rule", "evidence", "created"), ("article_id", "rule")),
    Table(
        "outbox",
        (
            "id",
            "channel",
            "article_id",
            "payload",
            "batch",
            "status",
            "attempts",
            "created",
            "next_attempt_at",
            "sent_at",
            "last_error",
        ),
        None,
        left_out=("seq", "claimed_by", "lease_until"),
    ),
    Table(
        "alert_rules", ("alert_id", "channel", "rule", "batched", "created"), ("alert_id", "rule")
    ),
    Table("sketches", ("hash", "article_id", "created"), ("article_id",)),
    Table("notices", ("subject", "failures", "since", "notified", "last_error"), ("subject",)),
    Table(
        "delivery_attempts",
        ("alert_id", "channel", "at", "outcome", "status_code", "error"),
        ("id",),
        left_out=("id",),
    ),
    Table(
        "item_problems",
        (
            "feed",
            "item_key",
            "stage",
            "outcome",
            "error",
            "article_id",
            "first_at",
            "at",
            "occurrences",
        ),
        ("feed", "item_key"),
    ),
    Table("rule_mutes", ("rule", "until", "at"), ("rule",)),
    Table("channel_pauses", ("channel", "since"), ("channel",)),
    Table("feedback", ("article_id", "rule", "who", "useful", "at"), ("article_id", "rule", "who")),
)


@dataclass(frozen=True)
class TableCopy:
    """What was copied of one table: its rows, and how long it took."""

    table: str
    rows: int
    seconds: float


def copy_state(
    source: str,
    destination: str,
    *,
    live_within: float | None = None,
    rows_per_page: int | None = None,
) -> list[TableCopy]:
    """Copy every table of the state database at `source` into the empty one at
    `destination` (made, and its schema applied, if need be), in one transaction; returns
    what each table copied. `rows_per_page` overrides each table's page size.

    Raises StorageError, with nothing written to the destination, when the copy is refused
    (see the module docstring) or fails.
    """
    src = _open_source(source)
    try:
        _check_no_daemon(src, "source", live_within)
        if not is_postgres(source) and not is_postgres(destination):
            _check_other_file(source, destination)
        dest = _open(destination)
        try:
            if is_postgres(source) and is_postgres(destination):
                _check_other_database(src, dest)
            _check_no_daemon(dest, "destination", live_within)
            return _copy(src, dest, rows_per_page)
        finally:
            dest.close()
    finally:
        src.close()


def _open(target: str, *, readonly: bool = False) -> SqlStore:
    store = open_store(target, readonly=readonly)
    assert isinstance(store, SqlStore)  # every backend is one
    return store


def _open_source(source: str) -> SqlStore:
    """The source, read-only; refused when missing or on an older schema than this program's."""
    if not is_postgres(source) and not sqlite_path(source).exists():
        raise StorageError(
            "the source database does not exist; nothing was copied",
            str(sqlite_path(source)),
            hint="give the state database the service used with --from"
            " (its --db or MONITOR_DB, e.g. sqlite:///var/lib/news-monitor/monitor.db)",
        )
    store = _open(source, readonly=True)
    try:
        latest = _latest_schema(source)
        if store.schema_version < latest:
            raise StorageError(
                f"the source database has schema version {store.schema_version}, this program"
                f" writes version {latest}; nothing was copied",
                store.location,
                hint="start the service once with this version of news-monitor (it upgrades"
                " the schema), stop it, then migrate",
            )
    except BaseException:
        store.close()
        raise
    return store


def _latest_schema(target: str) -> int:
    if is_postgres(target):
        from monitor.store.postgres import MIGRATIONS as PG_MIGRATIONS

        return len(PG_MIGRATIONS)
    from monitor.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

    return len(SQLITE_MIGRATIONS)


def _check_no_daemon(store: SqlStore, role: str, within: float | None) -> None:
    now = time.time()
    live = store.daemons(now=now, within=within)
    if not live:
        return
    d = live[0]
    others = f" and {len(live) - 1} other(s)" if len(live) > 1 else ""
    raise StorageError(
        f"a daemon is running on the {role} database (host {d.host}, pid {d.pid}, last"
        f" heartbeat {now - d.heartbeat:.0f} s ago){others}; nothing was copied",
        store.location,
        hint="stop the service on every host first (systemctl stop news-monitor), then"
        " migrate; a daemon killed without stopping counts as running for its lease"
        " (polling: lease in feeds.yaml, 60 s by default) after its last heartbeat",
    )


def _check_other_file(source: str, destination: str) -> None:
    src, dest = sqlite_path(source), sqlite_path(destination)
    if dest.exists() and os.path.samefile(src, dest):
        raise StorageError(
            "the source and the destination are the same database; nothing was copied",
            str(dest),
            hint="give --to another database (a new file, or an empty PostgreSQL database)",
        )


def _check_other_database(src: SqlStore, dest: SqlStore) -> None:
    """Two URLs may name one database (another host name, port spelling, user): compare
    what the servers say (the database, the schema, when the server started)."""
    who = "SELECT current_database(), current_schema(), pg_postmaster_start_time()"
    if src._query(who) == dest._query(who):
        raise StorageError(
            "the source and the destination are the same database; nothing was copied",
            dest.location,
            hint="give --to another database (CREATE DATABASE a new, empty one)",
        )


def _copy(src: SqlStore, dest: SqlStore, rows_per_page: int | None) -> list[TableCopy]:
    copied: list[TableCopy] = []
    with dest._tx() as db:
        _check_empty(db, dest.location)
        for table in TABLES:
            started = time.perf_counter()
            rows = 0
            insert = (
                f"INSERT INTO {table.name} ({', '.join(table.columns)})"
                f" VALUES ({', '.join('?' * len(table.columns))})"
            )
            for page in _pages(src, table, rows_per_page or table.per_page):
                db.executemany(insert, page)
                rows += len(page)
            _check_count(src, db, table.name, rows)
            copied.append(TableCopy(table.name, rows, time.perf_counter() - started))
    return copied


def _check_empty(db: Conn, location: str) -> None:
    held = {}
    for table in TABLES:
        (n,) = db.execute(f"SELECT count(*) FROM {table.name}").fetchone()
        if n:
            held[table.name] = int(n)
    if held:
        shown = ", ".join(f"{name}: {n}" for name, n in held.items())
        raise StorageError(
            f"the destination already holds state ({shown} rows); nothing was copied",
            location,
            hint="migrate into an empty database: for PostgreSQL, DROP DATABASE and CREATE"
            " DATABASE it again (or create another); for SQLite, give a new file",
        )


def _check_count(src: SqlStore, db: Conn, table: str, copied: int) -> None:
    """The source's and the destination's counts agree with what was copied, or the copy is
    rolled back (a source written to meanwhile, say)."""
    count = f"SELECT count(*) FROM {table}"
    (source_rows,) = src._query(count)[0]
    (dest_rows,) = db.execute(count).fetchone()
    if not int(source_rows) == int(dest_rows) == copied:
        raise StorageError(
            f"table {table}: the source holds {source_rows} rows, {copied} were read and the"
            f" destination holds {dest_rows}; the copy was rolled back",
            src.location,
            hint="make sure nothing writes to the source (stop the service), then try again",
        )


def _pages(store: SqlStore, table: Table, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `table` in key order, about `size` at a time: each page takes the next
    `size` keys and every row of its last key (so a key shared by many rows is not split)."""
    names = table.key or (store.ROW_ORDER,)
    key = ", ".join(names)
    marks = ", ".join("?" * len(names))
    columns = ", ".join(table.columns)
    after: tuple[Any, ...] | None = None
    while True:
        since = "" if after is None else f" WHERE ({key}) > ({marks})"
        params: tuple[Any, ...] = () if after is None else after
        bound = store._query(
            f"SELECT {key} FROM {table.name}{since} ORDER BY {key} LIMIT 1 OFFSET ?",
            (*params, size - 1),
        )
        until = ""
        if bound:
            until = f" {'AND' if since else 'WHERE'} ({key}) <= ({marks})"
            params = (*params, *bound[0])
        rows = store._query(
            f"SELECT {columns} FROM {table.name}{since}{until} ORDER BY {key}", params
        )
        if rows:
            yield rows
        if not bound:
            return
        after = tuple(bound[0])
