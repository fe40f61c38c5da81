"""The state database in a hostile environment.

A damaged page, a full disk and a write lock held by another process each end in a clear
`StorageError`; nothing recorded before a failure is lost. Other processes are real ones
(subprocesses holding real SQLite locks).
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import StorageError
from monitor.models import Alert, AlertRule, Document, Item
from monitor.store import (
    BUSY_TIMEOUT,
    Queued,
    Store,
    retryable,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
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
    store = Store(path)
    for n in range(ITEMS):
        record(store, n, text=f"article {n} " * 40)
        store.record_feed_failure(f"F{n}", "http://x/f", error="boom", now=T0, next_check=T0 + 1)
    store.close()
    return path.read_bytes()


def populated(path: Path, made: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(made)
    return path


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


# --------------------------------------------------------------------------- corrupt


def _garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _page_of(path: Path, table: str) -> int:
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    db.close()
    return int(root)


def test_a_damaged_page_in_a_running_database_is_a_clear_error(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = Store(path)
    data = bytearray(path.read_bytes())
    page = _page_of(path, "seen_items")
    data[(page - 1) * 4096 : page * 4096] = _garbage(4096, 9)
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=CORRUPT):
        store.unseen("Feed", ["id:1"])
    with pytest.raises(StorageError, match=CORRUPT):
        record(store, 1000)
    assert store.feed_states()  # the undamaged tables still read


# --------------------------------------------------------------------------- disk full


def test_a_full_database_fails_the_write_whole_and_keeps_what_was_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitor.db"
    store = Store(path)
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
    # rolled back whole: no seen key, article or alert of the failed item; the rest is intact
    assert store.counts() == before
    assert store.unseen("Feed", ["id:0", "id:19", "id:100"]) == ["id:100"]
    assert store.integrity_check() == "ok"
    store._query("PRAGMA max_page_count = 1073741823")  # space was freed
    assert record(store, 100, text=big) == ["msg_100"]
    store.close()
    again = Store(path)
    assert again.counts()["outbox_pending"] == 21
    again.close()


FULL_DISK = """
import json, os, sys
from pathlib import Path
from monitor.errors import StorageError
from monitor.store import Store, retryable
from tests.hostile.test_store import record

path = Path(sys.argv[1]) / "monitor.db"
store = Store(path)
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
    """A real ENOSPC: a 1 MiB tmpfs mounted in a user namespace (no root needed)."""
    unshare = shutil.which("unshare")
    mount = [unshare or "unshare", "--user", "--map-root-user", "--mount"]
    if unshare is None or subprocess.run([*mount, "true"], capture_output=True).returncode:
        pytest.skip("no user namespaces here; the max_page_count test covers a full database")
    disk = tmp_path / "disk"
    disk.mkdir()
    shell = 'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" -c "$3" "$1"'
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
    store = Store(path)

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
                store.record_feed_failure, "F1", "http://x/f", error="e", now=T0, next_check=T0
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
    assert store.record_feed_failure("F1", "http://x/f", error="e", now=T0, next_check=T0) == 2


def test_writes_waiting_for_a_lock_wait_side_by_side(tmp_path: Path, made: bytes) -> None:
    path = populated(tmp_path / "monitor.db", made)
    store = Store(path)
    errors: list[StorageError] = []

    def write(n: int) -> None:
        try:
            store.record_feed_failure(f"F{n}", "http://x/f", error="e", now=T0, next_check=T0)
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
    store = Store(path)
    with another_process(path, "BEGIN IMMEDIATE") as holder:
        assert holder.stdin is not None
        threading.Timer(0.5, holder.stdin.close).start()  # the other process commits at 0.5 s
        started = time.perf_counter()
        assert record(store, ITEMS) == [f"msg_{ITEMS}"]
        waited = time.perf_counter() - started
    assert 0.4 < waited < BUSY_TIMEOUT
