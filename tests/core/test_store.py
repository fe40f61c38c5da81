"""The state database: migrations, one-transaction recording, the outbox lease."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import StorageError
from monitor.models import Alert, AlertRule, Document, Item, Match
from monitor.store import DaemonInfo, ItemProblemRow, NoiseView, Queued, Store, open_store
from monitor.store.sql import SqlStore, _TxNoise
from monitor.store.sqlite import APPLICATION_ID, MIGRATIONS

T0 = 1_700_000_000.0


def alert(aid: str = "msg_1", channel: str = "desk") -> Alert:
    return Alert(
        id=aid,
        channel=channel,
        article_id="art_1",
        title="Title",
        url="https://example.org/a",
        source="Feed",
        published=None,
        rules=(AlertRule("r1"),),
        created=datetime.fromtimestamp(T0, UTC),
    )


def record(store: Store, *alerts: Alert, feed: str = "Feed", key: str = "id:1") -> list[str]:
    item = Item(key=key, feed=feed, title="Title", link="https://example.org/a")
    doc = Document(id="art_1", title="Title", text="Body")
    match = Match(rule="r1", article_id="art_1")
    queued = [Queued(a) for a in alerts]
    return store.record_item(item, doc, [match], [{"spans": []}], queued, now=T0)


@contextmanager
def noise(store: Store) -> Iterator[NoiseView]:
    """What the noise policy reads, inside a write transaction as when an item is recorded."""
    assert isinstance(store, SqlStore)
    with store._tx() as db:
        yield _TxNoise(db)


def test_migrations_and_wal(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db" / "monitor.db")
    assert store.schema_version == len(MIGRATIONS)
    assert store._query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()
    again = open_store(tmp_path / "db" / "monitor.db")  # reopening migrates nothing
    assert again.schema_version == len(MIGRATIONS)


def test_a_new_database_is_marked_as_ours(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    assert store._query("PRAGMA application_id")[0][0] == APPLICATION_ID == 0x4E4D4F4E
    assert APPLICATION_ID.to_bytes(4, "big") == b"NMON"


@pytest.mark.parametrize("readonly", [False, True])
def test_newer_schema_is_refused_and_left_alone(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "monitor.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="newer than this program") as caught:
        open_store(path, readonly=readonly)
    assert caught.value.hint == "upgrade news-monitor"
    assert path.read_bytes() == before


def test_unwritable_path_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot open"):
        open_store(tmp_path / "file" / "monitor.db")


def test_record_item_is_seen_and_queued_once(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    assert store.unseen("Feed", ["id:1", "id:2"]) == ["id:1", "id:2"]
    assert record(store, alert()) == ["msg_1"]
    assert store.unseen("Feed", ["id:1", "id:2"]) == ["id:2"]
    # the same article through another feed: seen there too, but the alert is not queued twice
    assert record(store, alert(), feed="Other") == []
    assert store.counts()["outbox_pending"] == 1


def test_lease_then_sent_is_final(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    record(store, alert("a"), alert("b"))
    (a,) = store.claim_next("desk", now=T0, lease=60)
    (b,) = store.claim_next("desk", now=T0, lease=60)
    assert (a.id, b.id, a.attempts, b.attempts) == ("a", "b", 1, 1)
    assert store.claim_next("desk", now=T0 + 59, lease=60) == []  # both leased
    store.mark_sent(["a"], now=T0 + 1, status_code=200)
    # lease expiry (a crash mid-send) makes b due again; a, sent, never comes back
    (again,) = store.claim_next("desk", now=T0 + 61, lease=60)
    assert again.id == "b" and again.attempts == 2
    assert store.claim_next("desk", now=T0 + 61, lease=60) == []
    assert [x.outcome for x in store.attempts("a")] == ["sent"]


def test_retry_and_fail(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    record(store, alert("a"))
    store.claim_next("desk", now=T0, lease=60)
    store.mark_retry(["a"], now=T0, next_attempt_at=T0 + 5, error="HTTP 500", status_code=500)
    assert store.next_due() == T0 + 5
    assert store.claim_next("desk", now=T0 + 4, lease=60) == []
    assert len(store.claim_next("desk", now=T0 + 5, lease=60)) == 1
    store.mark_failed(["a"], now=T0 + 6, error="HTTP 400", status_code=400)
    assert store.outbox("failed")[0].last_error == "HTTP 400"
    assert [(x.outcome, x.status_code) for x in store.attempts("a")] == [
        ("retry", 500),
        ("failed", 400),
    ]
    assert store.retry_failed(now=T0 + 7) == 1
    assert [r.id for r in store.claim_next("desk", now=T0 + 7, lease=60)] == ["a"]


def test_channels_are_claimed_separately(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    record(store, alert("a", "desk"), alert("b", "hook"))
    assert [r.id for r in store.claim_next("hook", now=T0, lease=60)] == ["b"]
    assert [r.id for r in store.claim_next("desk", now=T0, lease=60)] == ["a"]
    assert store.claim_next("gone", now=T0, lease=60) == []


def test_a_batch_is_claimed_and_marked_whole(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    store.enqueue(alert("solo"), now=T0)
    for n in range(3):
        store.enqueue(Queued(alert(f"d{n}"), "digest", T0 + 3600), now=T0 + n)
    with noise(store) as view:
        assert view.batch_due("desk", "digest") == T0 + 3600
    assert [r.id for r in store.claim_next("desk", now=T0 + 10, lease=60)] == ["solo"]
    assert store.claim_next("desk", now=T0 + 10, lease=60) == []  # digest not due yet
    store.mark_sent(["solo"], now=T0 + 11, status_code=200)
    rows = store.claim_next("desk", now=T0 + 3600, lease=60)
    assert [r.id for r in rows] == ["d0", "d1", "d2"] and {r.batch for r in rows} == {"digest"}
    with noise(store) as view:
        assert view.batch_due("desk", "digest") is None  # leased: a new digest starts
    store.mark_sent([r.id for r in rows], now=T0 + 3601, status_code=200)
    assert store.counts()["outbox_sent"] == 4


def test_recent_alerts_count_only_unbatched(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    store.enqueue(alert("a"), now=T0)
    store.enqueue(Queued(alert("b"), "summary:r1", T0 + 60), now=T0 + 1)
    with noise(store) as view:
        assert view.recent_alerts("r1", "desk", since=T0) == 1
        assert view.recent_alerts("r1", "desk", since=T0 + 1) == 0
        assert view.recent_alerts("r1", "hook", since=T0) == 0


def test_prune_keeps_seen_items_and_anything_unsent(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    record(store, alert("a"))
    item = Item(key="id:2", feed="Feed", title="T2", link="https://example.org/b")
    doc = Document(id="art_2", title="T2", text="Body")
    store.record_item(item, doc, [], [], [Queued(replace_alert("b", "art_2"))], now=T0)
    store.claim_next("desk", now=T0, lease=60)
    store.mark_sent(["a"], now=T0, status_code=200)
    assert store.prune(before=T0 + 1) == 1  # art_1 (sent) goes; art_2 is still pending
    counts = store.counts()
    assert counts["articles"] == 1 and counts["seen_items"] == 2
    assert counts.get("outbox_sent", 0) == 0 and counts["outbox_pending"] == 1
    assert store.unseen("Feed", ["id:1", "id:2"]) == []
    assert store.integrity_check() == "ok"


def replace_alert(aid: str, article: str) -> Alert:
    from dataclasses import replace

    return replace(alert(aid), article_id=article)


def test_a_failed_record_leaves_nothing_half_written(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    item = Item(key="id:1", feed="Feed", title="T", link="https://example.org/a")
    doc = Document(id="art_1", title="T", text="Body")
    with pytest.raises(ValueError):  # two matches, one evidence: fails mid-transaction
        store.record_item(item, doc, [Match("r1", "art_1"), Match("r2", "art_1")], [{}], [], now=T0)
    assert store.unseen("Feed", ["id:1"]) == ["id:1"]
    assert store.counts()["articles"] == 0
    assert record(store, alert()) == ["msg_1"]  # the connection is not left in a transaction


def test_item_problem_keeps_the_latest_and_counts_occurrences(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    assert (
        store.record_item_problem(
            "Feed", "id:1", stage="page", error="HTTP 500", outcome="failed", now=T0
        )
        == 1
    )
    assert store.unseen("Feed", ["id:1"]) == ["id:1"]  # not marked seen: tried again
    assert (
        store.record_item_problem(
            "Feed",
            "id:1",
            stage="extract",
            error="bad charset",
            outcome="partial",
            now=T0 + 60,
            article_id="art_1",
            mark_seen=True,
        )
        == 2
    )
    assert store.unseen("Feed", ["id:1"]) == []
    assert store.item_problems() == [
        ItemProblemRow(
            feed="Feed",
            item_key="id:1",
            stage="extract",
            outcome="partial",
            error="bad charset",
            article_id="art_1",
            first_at=T0,
            at=T0 + 60,
            occurrences=2,
        )
    ]


def test_item_problems_newest_first_per_feed_and_counted_since(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    for n, (feed, outcome) in enumerate(
        [("A", "failed"), ("A", "partial"), ("B", "failed"), ("A", "failed"), ("B", "failed")]
    ):
        store.record_item_problem(
            feed, f"id:{n}", stage="item", error=f"e{n}", outcome=outcome, now=T0 + n
        )
    assert [p.item_key for p in store.item_problems()] == ["id:4", "id:3", "id:2", "id:1", "id:0"]
    assert [p.item_key for p in store.item_problems("A", limit=2)] == ["id:3", "id:1"]
    assert store.item_problems("C") == []
    assert store.item_problem_counts(since=T0) == {"A": (1, 2), "B": (0, 2)}
    assert store.item_problem_counts(since=T0 + 2) == {"A": (0, 1), "B": (0, 2)}
    assert store.item_problem_counts(since=T0 + 5) == {}


def test_item_problem_marked_seen_is_one_transaction_with_the_problem(
    db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    record(store, alert())  # id:1 already seen through a full record: stays as it was
    store.record_item_problem(
        "Feed", "id:1", stage="match", error="x", outcome="partial", now=T0, mark_seen=True
    )
    assert store._query("SELECT article_id FROM seen_items WHERE item_key = 'id:1'") == [("art_1",)]
    lost: Any = "lost"  # an outcome the schema refuses, after the key was marked seen
    with pytest.raises(StorageError):
        store.record_item_problem(
            "Feed", "id:2", stage="x", error="x", outcome=lost, now=T0, mark_seen=True
        )
    assert store.unseen("Feed", ["id:2"]) == ["id:2"]
    assert [p.item_key for p in store.item_problems("Feed")] == ["id:1"]


def test_prune_forgets_old_item_problems(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    store.record_item_problem("F", "old", stage="page", error="x", outcome="failed", now=T0)
    store.record_item_problem("F", "new", stage="page", error="x", outcome="failed", now=T0 + 9)
    store.prune(before=T0 + 5)
    assert [p.item_key for p in store.item_problems()] == ["new"]


def test_readonly_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    writer = open_store(path)
    record(writer, alert())
    writer.record_item_problem("Feed", "id:9", stage="page", error="x", outcome="failed", now=T0)
    writer.close()
    reader = open_store(path, readonly=True)
    assert reader.counts()["outbox_pending"] == 1
    assert reader.item_problem_counts(since=0) == {"Feed": (0, 1)}
    for write in (
        lambda: reader.retry_failed(now=T0),
        lambda: reader.enqueue(alert("b"), now=T0),
        lambda: reader.register_daemon(DaemonInfo("h:1:x", "h", 1, "0", "c"), now=T0, lease=60),
    ):
        with pytest.raises(StorageError, match="opened read-only"):
            write()
    reader.close()


def test_calls_from_many_threads_are_each_whole(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    threads_n, per_thread = 8, 40

    def work(t: int) -> None:
        for n in range(per_thread):
            key = f"t{t}:{n}"
            item = Item(key=key, feed="Feed", title="T", link=f"https://example.org/{key}")
            doc = Document(id=f"art_{key}", title="T", text="Body")
            store.record_item(item, doc, [], [], [Queued(replace_alert(key, doc.id))], now=T0)
            store.record_item_problem(
                "Feed", key, stage="page", error="x", outcome="partial", now=T0 + n
            )
            assert store.unseen("Feed", [key, f"never:{t}"]) == [f"never:{t}"]
            store.claim_next("desk", now=T0, lease=60)

    with ThreadPoolExecutor(threads_n) as pool:
        list(pool.map(work, range(threads_n)))
    total = threads_n * per_thread
    counts = store.counts()
    assert counts["seen_items"] == counts["articles"] == total
    assert counts["outbox_pending"] == total
    assert store._query("SELECT count(*) FROM outbox WHERE lease_until IS NOT NULL")[0][0] == total
    assert store.item_problem_counts(since=0) == {"Feed": (total, 0)}
    assert store.integrity_check() == "ok"
