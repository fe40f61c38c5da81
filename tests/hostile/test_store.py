"""The state database under hostile files and a hostile environment.

Someone else's SQLite file, random bytes, a truncated or damaged database, a full disk and a
write lock held by another process each end in a clear `StorageError`; a file that is not
ours is left byte for byte as it was, with nothing created beside it; nothing recorded before a
failure is lost. Other processes are real ones (subprocesses holding real SQLite locks).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import StorageError
from monitor.models import Alert, AlertRule, Document, Item
from monitor.store import Queued, Store, open_store, retryable
from monitor.store.sql import ERROR_CHARS
from monitor.store.sqlite import APPLICATION_ID, BUSY_TIMEOUT, MIGRATIONS
from tests.support.polling import record_failure

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
NOT_OURS = "is not a news-monitor database"
CORRUPT = "corrupt or not a SQLite database"


# --------------------------------------------------------------------------- helpers


def record(store: Store, n: int, *, text: str = "Body", feed: str = "Feed") -> list[str]:
    """Record item `n` with its article and one alert, as the pipeline does."""
    item = Item(key=f"id:{n}", feed=feed, title=f"T{n}", link=f"https://example.org/{n}")
    doc = Document(id=f"art_{n}", title=f"T{n}", text=text)
    alert = Alert(
        id=f"msg_{n}",
        channel="desk",
        article_id=doc.id,
        title=doc.title,
        url=item.link,
        source=feed,
        published=None,
        rules=(AlertRule("r1"),),
        created=datetime.fromtimestamp(T0, UTC),
    )
    return store.record_item(item, doc, [], [], [Queued(alert)], now=T0 + n)


ITEMS = 300


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real news-monitor database with items, articles, alerts and feed states (closed)."""
    path = tmp_path_factory.mktemp("made") / "monitor.db"
    store = open_store(path)
    for n in range(ITEMS):
        record(store, n, text=f"article {n} " * 40)
        record_failure(store, f"F{n}", "http://x/f", error="boom", now=T0, next_check=T0 + 1)
    store.close()
    return path.read_bytes()


def populated(path: Path, made: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(made)
    return path


def beside(path: Path) -> list[str]:
    """The file and whatever SQLite keeps next to it (-wal, -shm, -journal)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def contents(path: Path) -> dict[str, bytes]:
    return {name: (path.parent / name).read_bytes() for name in beside(path)}


def every_read(store: Store) -> None:
    """What `monitor status` and `monitor deliveries` read, and a lookup of seen items."""
    store.counts()
    store.feed_states()
    store.outbox(limit=1000)
    store.unseen("Feed", [f"id:{n}" for n in range(400)])
    store.item_problems()
    store.item_problem_counts(since=0)


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for sql in sys.argv[2:]:
    db.execute(sql)
print("ready", flush=True)
sys.stdin.read()
if db.in_transaction:
    db.execute("COMMIT")
db.close()
"""


@contextmanager
def another_process(path: Path, *sql: str) -> Iterator[subprocess.Popen[str]]:
    """A second process with its own connection to `path`, having run `sql`, until the block
    ends (then it commits what it holds and exits)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), *sql],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()


def foreign(path: Path, *sql: str, wal: bool = False) -> Path:
    db = sqlite3.connect(path, isolation_level=None)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    for statement in sql:
        db.execute(statement)
    db.close()
    return path


def first_schema(path: Path, *extra: str) -> Path:
    """A database as news-monitor made it before application_id existed (schema 1)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(MIGRATIONS[0].script)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO seen_items (feed, item_key, article_id, first_seen)"
        " VALUES ('Feed', 'id:old', 'art_old', 1.0)"
    )
    for statement in extra:
        db.execute(statement)
    db.close()
    return path


# --------------------------------------------------------------------------- not ours

FOREIGN: dict[str, Callable[[Path], Path]] = {
    "app tables, WAL": lambda p: foreign(
        p,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)",
        "INSERT INTO customers (email) VALUES ('a@example.org')",
        wal=True,
    ),
    "app tables, rollback journal": lambda p: foreign(
        p,
        "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)",
        "INSERT INTO moz_places (url) VALUES ('https://example.org/')",
    ),
    "another application_id (GeoPackage)": lambda p: foreign(
        p, "PRAGMA application_id = 0x47504B47", "CREATE TABLE gpkg_contents (table_name TEXT)"
    ),
    "another application_id, no tables": lambda p: foreign(p, "PRAGMA application_id = 7"),
    "our tables plus theirs": lambda p: first_schema(p, "CREATE TABLE theirs (x)"),
    "our tables plus a view": lambda p: first_schema(p, "CREATE VIEW v AS SELECT 1"),
    "our tables, another user_version": lambda p: first_schema(p, "PRAGMA user_version = 7"),
    "a view only": lambda p: foreign(p, "CREATE VIEW answer AS SELECT 42"),
    "user_version only": lambda p: foreign(p, "PRAGMA user_version = 3"),
}


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "read-write"])
@pytest.mark.parametrize("make", FOREIGN.values(), ids=FOREIGN.keys())
def test_someone_elses_database_is_refused_and_left_byte_for_byte(
    tmp_path: Path, make: Callable[[Path], Path], readonly: bool
) -> None:
    path = make(tmp_path / "their.db")
    before = contents(path)
    started = time.perf_counter()
    with pytest.raises(StorageError, match=NOT_OURS) as caught:
        open_store(path, readonly=readonly)
    elapsed = time.perf_counter() - started
    assert "left unchanged" in str(caught.value) and caught.value.hint
    assert caught.value.subject == str(path)
    assert contents(path) == before  # same bytes, and no -wal/-shm/-journal left behind
    assert elapsed < 1.0  # measured: about 1 ms


def test_a_live_database_of_another_program_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = foreign(tmp_path / "live.db", "CREATE TABLE jobs (id INTEGER PRIMARY KEY)", wal=True)
    with another_process(path, "PRAGMA journal_mode=WAL", "INSERT INTO jobs DEFAULT VALUES"):
        before = contents(path)  # the owner's committed row is in its -wal, not checkpointed
        assert sorted(before) == ["live.db", "live.db-shm", "live.db-wal"]
        for readonly in (True, False):
            with pytest.raises(StorageError, match=NOT_OURS):
                open_store(path, readonly=readonly)
        assert contents(path)["live.db"] == before["live.db"]
        assert contents(path)["live.db-wal"] == before["live.db-wal"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master")} == {"jobs"}
    db.close()


HOT_JOURNAL = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size = 1")  # spill the change to the file before the commit
db.execute("CREATE TABLE t (x)")
db.execute("INSERT INTO t VALUES (randomblob(100000))")
db.execute("BEGIN")
db.execute("INSERT INTO t SELECT randomblob(100000) FROM t")
os._exit(0)
"""


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "read-write"])
def test_a_database_with_another_programs_unfinished_transaction_is_left_alone(
    tmp_path: Path, readonly: bool
) -> None:
    path = tmp_path / "their.db"
    subprocess.run([sys.executable, "-c", HOT_JOURNAL, str(path)], check=True)
    before = contents(path)
    assert sorted(before) == ["their.db", "their.db-journal"]  # a hot journal: needs recovery
    with pytest.raises(StorageError, match="left unfinished by a program that stopped"):
        open_store(path, readonly=readonly)
    assert contents(path) == before


def test_a_database_made_before_the_application_id_is_read_unchanged(tmp_path: Path) -> None:
    path = first_schema(tmp_path / "monitor.db")
    before = contents(path)
    store = open_store(path, readonly=True)
    assert store.schema_version == 1
    assert store.unseen("Feed", ["id:old", "id:new"]) == ["id:new"]
    assert store.item_problems() == [] and store.item_problem_counts(since=0) == {}
    store.close()
    assert contents(path) == before


def test_a_database_made_before_the_application_id_is_adopted(tmp_path: Path) -> None:
    path = first_schema(tmp_path / "monitor.db")
    store = open_store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store._query("PRAGMA application_id") == [(APPLICATION_ID,)]
    assert store.unseen("Feed", ["id:old", "id:new"]) == ["id:new"]  # nothing lost
    store.record_item_problem("Feed", "id:new", stage="page", error="x", outcome="failed", now=T0)
    # while it runs, the file's header may still say id 0 (page 1 is in the -wal): a
    # read-only command still sees it as ours
    reader = open_store(path, readonly=True)
    assert reader.item_problem_counts(since=0) == {"Feed": (0, 1)}
    reader.close()
    store.close()
    assert open_store(path).schema_version == len(MIGRATIONS)


def test_an_empty_file_becomes_a_new_database_but_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    path.touch()
    with pytest.raises(StorageError, match="empty"):
        open_store(path, readonly=True)
    assert path.read_bytes() == b""
    store = open_store(path)
    assert store.schema_version == len(MIGRATIONS)


# --------------------------------------------------------------------------- corrupt


def _garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


GARBAGE: dict[str, bytes] = {
    "one byte": b"\x00",
    "random 100 B": _garbage(100, 1),
    "random 4 KiB": _garbage(4096, 2),
    "random 1 MiB": _garbage(1 << 20, 3),
    "zeros 64 KiB": bytes(65536),
    "a YAML file": b"feeds:\n  - name: Desk\n    url: https://example.org/feed.xml\n" * 50,
    "SQLite magic then random": b"SQLite format 3\x00" + _garbage(8192, 4),
    "a gzip file": bytes.fromhex("1f8b0800000000000003") + _garbage(5000, 5),
}


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "read-write"])
@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_file_that_is_not_sqlite_is_a_clear_error_and_left_alone(
    tmp_path: Path, data: bytes, readonly: bool
) -> None:
    path = tmp_path / "monitor.db"
    path.write_bytes(data)
    with pytest.raises(StorageError, match=CORRUPT) as caught:
        open_store(path, readonly=readonly)
    assert caught.value.hint is not None and "backup" in caught.value.hint
    assert contents(path) == {"monitor.db": data}


def _damage_is_reported(path: Path, readonly: bool) -> StorageError:
    """Open and read everything (and write, read-write): any failure must be our clear error.

    Returns the first failure; a damaged database must fail somewhere.
    """
    try:
        store = open_store(path, readonly=readonly)
    except StorageError as e:
        return e
    first: StorageError | None = None
    steps: list[Callable[[], Any]] = [
        store.counts,
        store.feed_states,
        lambda: store.outbox(limit=1000),
        lambda: store.unseen("Feed", [f"id:{n}" for n in range(400)]),
        store.item_problems,
    ]
    if not readonly:
        steps += [
            lambda: record(store, 1000),
            lambda: store.prune(before=T0 + 10_000),
        ]
    for step in steps:
        try:
            step()
        except StorageError as e:
            first = first or e
    store.close()
    assert first is not None, "the damage went unnoticed"
    return first


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "read-write"])
@pytest.mark.parametrize("keep", [50, 100, 4096, 4096 + 1, 0.25, 0.5, 0.9])
def test_a_truncated_database_is_a_clear_error(
    tmp_path: Path, made: bytes, keep: float, readonly: bool
) -> None:
    whole = made
    path = tmp_path / "monitor.db"
    path.write_bytes(whole[: int(keep if keep >= 1 else len(whole) * keep)])
    error = _damage_is_reported(path, readonly)
    assert CORRUPT in str(error)


def _page_of(path: Path, table: str) -> int:
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    db.close()
    return int(root)


@pytest.mark.parametrize(
    ("table", "readonly"),
    [
        ("sqlite_master", True),
        ("sqlite_master", False),
        ("seen_items", True),
        ("seen_items", False),
        ("outbox", True),
        ("outbox", False),
        ("feeds", True),
        ("feeds", False),
        ("articles", False),  # only written: a read-only command never reads article pages
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_damaged_page_is_a_clear_error(
    tmp_path: Path, made: bytes, table: str, seed: int, readonly: bool
) -> None:
    path = populated(tmp_path / "monitor.db", made)
    page = 1 if table == "sqlite_master" else _page_of(path, table)
    data = bytearray(path.read_bytes())
    start = (page - 1) * 4096 + (100 if page == 1 else 0)  # page 1 keeps its file header
    data[start : page * 4096] = _garbage(page * 4096 - start, seed)
    path.write_bytes(bytes(data))
    error = _damage_is_reported(path, readonly)
    assert CORRUPT in str(error) and not retryable(error)


def test_a_damaged_page_in_a_running_database_is_a_clear_error(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = open_store(path)
    data = bytearray(path.read_bytes())
    page = _page_of(path, "seen_items")
    data[(page - 1) * 4096 : page * 4096] = _garbage(4096, 9)
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=CORRUPT):
        store.unseen("Feed", ["id:1"])
    with pytest.raises(StorageError, match=CORRUPT):
        record(store, 1000)
    assert store.feed_states()  # the undamaged tables still read


# --------------------------------------------------------------------------- read-only


def test_readonly_reads_beside_a_writer_in_another_process(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    with another_process(
        path,
        "PRAGMA journal_mode=WAL",
        "UPDATE feeds SET last_error = 'committed'",
        "BEGIN IMMEDIATE",
        "UPDATE feeds SET last_error = 'not yet'",
    ):
        started = time.perf_counter()
        store = open_store(path, readonly=True)
        states = store.feed_states()
        elapsed = time.perf_counter() - started
        assert {s.last_error for s in states} == {"committed"}  # a consistent snapshot
        assert elapsed < 1.0  # measured: a few ms; the write lock is not waited for
        store.close()
    store = open_store(path, readonly=True)
    assert {s.last_error for s in store.feed_states()} == {"not yet"}
    store.close()


def test_readonly_on_a_stopped_service_changes_nothing(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    before = contents(path)
    assert list(before) == ["monitor.db"]
    store = open_store(path, readonly=True)
    every_read(store)
    assert store.counts()["outbox_pending"] == ITEMS
    store.close()
    assert contents(path) == before  # no -wal or -shm made, no byte changed


CRASHER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("UPDATE feeds SET last_error = 'written before the crash'")
os._exit(0)
"""


def test_readonly_sees_what_a_crashed_service_committed(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    subprocess.run([sys.executable, "-c", CRASHER, str(path)], check=True)
    assert beside(path) == ["monitor.db", "monitor.db-shm", "monitor.db-wal"]
    main_file = path.read_bytes()
    store = open_store(path, readonly=True)
    assert {s.last_error for s in store.feed_states()} == {"written before the crash"}
    store.close()
    assert path.read_bytes() == main_file


def test_readonly_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "monitor.db"
    with pytest.raises(StorageError, match="no state database here yet") as caught:
        open_store(path, readonly=True)
    assert caught.value.subject == str(path)
    assert not path.parent.exists()


@pytest.mark.parametrize("name", ["a b", "q?mode=rw", "h#x", "p%20c", "ü"])
def test_readonly_opens_paths_with_uri_characters(tmp_path: Path, made: bytes, name: str) -> None:
    path = populated(tmp_path / name / "monitor.db", made)
    store = open_store(path, readonly=True)
    assert store.counts()["articles"] == ITEMS
    store.close()
    assert beside(path) == ["monitor.db"]


# --------------------------------------------------------------------------- disk full


def test_a_full_database_fails_the_write_whole_and_keeps_what_was_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitor.db"
    store = open_store(path)
    for n in range(20):
        record(store, n)
    before = store.counts()
    (pages,) = store._query("PRAGMA page_count")[0]
    store._query(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    big = "word " * 40_000
    started = time.perf_counter()
    with pytest.raises(StorageError, match="disk full") as caught:
        record(store, 100, text=big)
    assert time.perf_counter() - started < 1.0  # measured: under 1 ms
    error = caught.value
    assert error.subject == str(path) and retryable(error)
    assert error.hint is not None and str(tmp_path) in error.hint
    with pytest.raises(StorageError, match="disk full"):
        store.record_item_problem(
            "Feed", "id:101", stage="page", error=big, outcome="failed", now=T0, mark_seen=True
        )
    # rolled back whole: no seen key, article or alert of the failed item; the rest is intact
    assert store.counts() == before
    assert store.unseen("Feed", ["id:0", "id:19", "id:100", "id:101"]) == ["id:100", "id:101"]
    assert store.item_problems() == []
    assert store.integrity_check() == "ok"
    store._query("PRAGMA max_page_count = 1073741823")  # space was freed
    assert record(store, 100, text=big) == ["msg_100"]
    store.close()
    again = open_store(path, readonly=True)
    assert again.counts()["outbox_pending"] == 21
    again.close()


FULL_DISK = """
import json, os, sys
from pathlib import Path
from monitor.errors import StorageError
from monitor.store import Store, open_store, retryable
from tests.hostile.test_store import record

path = Path(sys.argv[1]) / "monitor.db"
store = open_store(path)
for n in range(10):
    record(store, n, text="x" * 2000)
filler = path.with_name("filler")
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, bytes(4096))
except OSError as e:
    filled = e.strerror
os.close(fd)
out = {"filled": filled}
big = os.urandom(150_000).hex()
try:
    record(store, 100, text=big)
except StorageError as e:
    out.update(error=str(e), hint=e.hint, retryable=retryable(e))
out["unseen"] = store.unseen("Feed", ["id:0", "id:9", "id:100"])
filler.unlink()
out["queued"] = record(store, 100, text=big)
out["integrity"] = store.integrity_check()
store.close()
print(json.dumps(out))
"""


def test_a_full_filesystem_fails_the_write_cleanly_and_the_same_write_works_once_freed(
    tmp_path: Path,
) -> None:
    """A real ENOSPC: a 2 MiB tmpfs mounted in a user namespace (no root needed)."""
    unshare = shutil.which("unshare")
    mount = [unshare or "unshare", "--user", "--map-root-user", "--mount"]
    if unshare is None or subprocess.run([*mount, "true"], capture_output=True).returncode:
        pytest.skip("no user namespaces here; the max_page_count test covers a full database")
    disk = tmp_path / "disk"
    disk.mkdir()
    shell = 'mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" -c "$3" "$1"'
    done = subprocess.run(
        [*mount, "sh", "-c", shell, "sh", str(disk), sys.executable, FULL_DISK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["filled"] == os.strerror(28)  # the filesystem really was full (ENOSPC)
    assert "disk full" in out["error"] and str(disk / "monitor.db") in out["error"]
    assert str(disk) in out["hint"] and out["retryable"]
    assert out["unseen"] == ["id:100"]  # what came before is kept, the failed item is not
    assert out["queued"] == ["msg_100"] and out["integrity"] == "ok"


# --------------------------------------------------------------------------- locked


def test_a_write_lock_held_by_another_process_fails_the_write_without_holding_the_loop(
    tmp_path: Path,
    made: bytes,
) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = open_store(path)

    async def scenario() -> tuple[float, float, float, StorageError]:
        gaps: list[float] = []
        ticking = True

        async def tick() -> None:
            last = time.perf_counter()
            while ticking:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        write = asyncio.create_task(
            asyncio.to_thread(
                record_failure, store, "F1", "http://x/f", error="e", now=T0, next_check=T0
            )
        )
        await asyncio.sleep(0.2)
        read_started = time.perf_counter()
        # the same store answers reads from another thread while the write waits
        unseen = await asyncio.to_thread(store.unseen, "Feed", ["id:0", "id:new"])
        read_time = time.perf_counter() - read_started
        assert unseen == ["id:new"]
        with pytest.raises(StorageError) as caught:
            await write
        elapsed = time.perf_counter() - started
        ticking = False
        await ticker
        return elapsed, read_time, max(gaps), caught.value

    with another_process(path, "BEGIN IMMEDIATE", "UPDATE feeds SET last_error = 'theirs'"):
        elapsed, read_time, worst_gap, error = asyncio.run(scenario())
    assert "database is locked by another process" in str(error) and retryable(error)
    assert error.subject == str(path) and error.hint
    assert BUSY_TIMEOUT * 0.95 <= elapsed < BUSY_TIMEOUT + 5  # measured: 5.0 s
    assert read_time < 1.0  # measured: about 1 ms
    assert worst_gap < 0.5  # measured: about 15 ms
    state = store.feed_state("F1")  # their write went in once they committed; ours did not
    assert state is not None and state.consecutive_failures == 1 and state.last_error == "theirs"
    # the lock is gone: the same write works
    assert record_failure(store, "F1", "http://x/f", error="e", now=T0, next_check=T0) == 2


def test_writes_waiting_for_a_lock_wait_side_by_side(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = open_store(path)
    errors: list[StorageError] = []

    def write(n: int) -> None:
        try:
            record_failure(store, f"F{n}", "http://x/f", error="e", now=T0, next_check=T0)
        except StorageError as e:
            errors.append(e)

    with another_process(path, "BEGIN IMMEDIATE"):
        started = time.perf_counter()
        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    assert len(errors) == 4 and all("locked by another process" in str(e) for e in errors)
    assert elapsed < BUSY_TIMEOUT * 2  # four waits side by side, not 4 x BUSY_TIMEOUT


def test_a_lock_held_briefly_is_waited_out(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = open_store(path)
    with another_process(path, "BEGIN IMMEDIATE") as holder:
        assert holder.stdin is not None
        threading.Timer(0.5, holder.stdin.close).start()  # the other process commits at 0.5 s
        started = time.perf_counter()
        assert record(store, ITEMS) == [f"msg_{ITEMS}"]
        waited = time.perf_counter() - started
    assert 0.4 < waited < BUSY_TIMEOUT


# --------------------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    "text",
    [
        "'); DROP TABLE seen_items; --",
        'a"b`c[d]e',
        "?, ?, ?",
        "%s %d {0}",
        "nul\x00inside",
        "\u202eevil\u202c\r\nnext",
        "k" * 100_000,
    ],
    ids=["sql", "quotes", "marks", "formats", "nul", "bidi-crlf", "100k"],
)
def test_stranger_text_is_stored_as_data(tmp_path: Path, text: str) -> None:
    store = open_store(tmp_path / "monitor.db")
    store.record_item_problem(
        text, text, stage="item", error=text, outcome="failed", now=T0, mark_seen=True
    )
    (problem,) = store.item_problems(text)
    assert (problem.feed, problem.item_key) == (text, text)
    assert problem.error == (text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…")
    assert store.unseen(text, [text, "other"]) == ["other"]
    record_failure(store, text, text, error=text, now=T0, next_check=T0)
    assert [s.name for s in store.feed_states()] == [text]
    assert store.integrity_check() == "ok"
    assert {r[0] for r in store._query("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
        "seen_items",
        "item_problems",
    }
