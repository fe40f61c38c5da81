"""`monitor migrate-state`: the whole state copied to another database, nothing alerted again.

A SQLite state is built through the store's own API (feeds with their schedule and health,
items with alerts sent, pending, retried, failed, batched and claimed, delivery attempts,
item problems, notices, sketches), copied to a real PostgreSQL database and back, and each
copy is compared with the source table by table, row by row, on the columns the databases
themselves list (not the copier's). The outbox's behaviour is compared too: what `claim_next`
hands out, in which order; which keys `unseen` still reports.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import StorageError
from monitor.models import Alert, AlertRule, Document, FeedSlot, Item, Match, PollOutcome
from monitor.store import DaemonInfo, NoticeState, Queued, Store, open_store
from monitor.store.copy import TABLES, copy_state
from monitor.store.postgres import PostgresStore
from monitor.store.sql import SqlStore
from tests.support.newsroom import WEBHOOK_SECRET, publish, write_config
from tests.support.receivers import SmtpServer, WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]
NOW = time.time()
LATER = NOW + 10  # every alert due by then, except the open digest
DIGEST_DUE = NOW + 600
# Claims cleared by the copy, and ids the destination numbers itself: not compared as values.
NOT_COMPARED = {"claimed_by", "lease_until", "seq", "id", "search"}
KEY_ORDER = {
    "feeds": "name",
    "seen_items": "feed, item_key",
    "articles": "id",
    "matches": "article_id, rule",
    "alert_rules": "alert_id, rule",
    "sketches": "article_id, hash",
    "notices": "subject",
    "delivery_attempts": "id",
    "item_problems": "feed, item_key",
    "rule_mutes": "rule",
    "channel_pauses": "channel",
    "feedback": "article_id, rule, who",
}
DEAD = DaemonInfo("dead-1", "old-host", 4242, "0.9", "cafe")


def sql(store: Store) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


def columns(store: Store, table: str) -> list[str]:
    """The columns `table` has, as the database itself lists them."""
    db = sql(store)
    if isinstance(store, PostgresStore):
        rows = db._query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    else:
        rows = db._query(f"SELECT name FROM pragma_table_info('{table}')")
    return sorted(r[0] for r in rows)


def table_names(store: Store) -> set[str]:
    db = sql(store)
    if isinstance(store, PostgresStore):
        rows = db._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {r[0] for r in rows} - {"news_monitor"}
    rows = db._query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'articles_fts%'"
    )  # the full-text index is made from the articles, not copied
    return {r[0] for r in rows}


def rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table` on the columns worth comparing, in its key order (the outbox in
    its insertion order)."""
    db = sql(store)
    shown = [c for c in columns(store, table) if c not in NOT_COMPARED]
    order = db.ROW_ORDER if table == "outbox" else KEY_ORDER[table]
    quoted = ", ".join(f'"{c}"' for c in shown)
    return [tuple(r) for r in db._query(f"SELECT {quoted} FROM {table} ORDER BY {order}")]


def claims_held(store: Store) -> int:
    db = sql(store)
    return sum(
        int(
            db._query(
                f"SELECT count(*) FROM {t} WHERE claimed_by IS NOT NULL OR lease_until IS NOT NULL"
            )[0][0]
        )
        for t in ("feeds", "outbox")
    )


def claim_all(store: Store, channel: str) -> list[tuple[str, ...]]:
    """What `channel` sends, in order, one claim (an alert or a whole batch) at a time (each
    claim held for good: it stays out of later claims)."""
    out = []
    while batch := store.claim_next(channel, now=LATER, lease=10**6, owner="test"):
        out.append(tuple(r.id for r in batch))
    return out


def alert(aid: str, channel: str, article: str) -> Alert:
    return Alert(
        id=aid,
        channel=channel,
        article_id=article,
        title=f"Story {article} \u2013 caf\u00e9",
        url=f"https://example.org/{article}",
        source="Alpha",
        published=datetime.fromtimestamp(NOW - 3600, UTC),
        rules=(AlertRule("r1"),),
        created=datetime.fromtimestamp(NOW, UTC),
    )


def record(store: Store, key: str, *queued: Queued, sketch: tuple[int, ...] = ()) -> None:
    """Item `key` of feed Alpha, read, matched by r1, with `queued` alerts."""
    article = f"art-{key}"
    item = Item(key=key, feed="Alpha", title=f"T {key}", link=f"https://example.org/{article}")
    doc = Document(id=article, title=f"T {key}", text=f"Body of {key}\nsecond line")
    evidence = [{"spans": [[0, 4]]}]
    store.record_item(
        item, doc, [Match("r1", article)], evidence, list(queued), now=NOW, sketch=sketch
    )


@dataclass(frozen=True)
class State:
    """What the built source holds, as the tests expect to find it."""

    seen: dict[str, list[str]]
    desk_order: list[tuple[str, ...]]
    hook_pending: set[str]


def build_state(store: Store) -> State:
    """A state with every kind of row, and claims held by a daemon that died."""
    slots = [
        FeedSlot(
            n,
            f"https://{n.lower()}.example.org/feed.xml",
            f"{n.lower()}.example.org",
            300,
            60,
            3600,
        )
        for n in ("Alpha", "Beta", "Gamma")
    ]
    store.sync_feeds(slots, now=NOW - 1000, first_due=lambda slot, count: NOW - 900)
    store.record_polls(
        [
            PollOutcome(
                "Alpha", slots[0].url, "ok", NOW - 900, NOW + 300, 300, lateness=1.5,
                etag='"e1"', last_modified="Sat, 21 Nov 2026 09:00:00 GMT", body_hash="h1",
                new_items=9, ttl=600.0,
            ),
            PollOutcome("Beta", slots[1].url, "failed", NOW - 900, NOW + 60, 300, error="HTTP 500"),
            PollOutcome("Gamma", slots[2].url, "not_modified", NOW - 900, NOW - 5, 300),
        ]
    )  # fmt: skip
    # one alert per item, queued in an order that is not the ids' order (all due at NOW, so
    # only the insertion order decides which goes first)
    for key, aid in (("k1", "z-desk"), ("k2", "a-desk"), ("k3", "m-desk")):
        record(store, key, Queued(alert(aid, "desk", f"art-{key}")), sketch=(1, 2))
    record(
        store,
        "k4",
        Queued(alert("d2-desk", "desk", "art-k4"), "digest", DIGEST_DUE),
        Queued(alert("h-sent", "hook", "art-k4")),
    )
    record(
        store,
        "k5",
        Queued(alert("d1-desk", "desk", "art-k5"), "digest", DIGEST_DUE),
        Queued(alert("h-failed", "hook", "art-k5")),
    )
    record(store, "k6", Queued(alert("h-retry", "hook", "art-k6")))
    record(store, "k7", Queued(alert("h-claimed", "hook", "art-k7")))
    store.record_item(
        Item(key="k8", feed="Beta", title="T k8", link="https://example.org/art-k8"),
        Document(id="art-k8", title="T k8", text="near duplicate"),
        [],
        [],
        [],
        now=NOW,
        sketch=[7, 2**62, -(2**62)],
    )
    # the hook channel: one sent, one failed for good, one to retry, one claimed mid-send
    # by a daemon that then died
    hook = [r.id for r in store.claim_next("hook", now=NOW, lease=60, owner="live")]
    assert hook == ["h-sent"]
    store.mark_sent(hook, now=NOW + 1, status_code=200)
    (failed,) = store.claim_next("hook", now=NOW, lease=60, owner="live")
    assert failed.id == "h-failed"
    store.mark_retry(
        ["h-failed"], now=NOW + 1, next_attempt_at=NOW, error="HTTP 503", status_code=503
    )
    (failed,) = store.claim_next("hook", now=NOW, lease=60, owner="live")
    assert failed.id == "h-failed"
    store.mark_failed(["h-failed"], now=NOW + 2, error="HTTP 410", status_code=410)
    (retry,) = store.claim_next("hook", now=NOW, lease=60, owner="live")
    assert retry.id == "h-retry"
    store.mark_retry(
        ["h-retry"], now=NOW + 2, next_attempt_at=NOW + 5, error="timeout", status_code=None
    )
    store.register_daemon(DEAD, now=NOW - 600, lease=60)  # silent for ten leases
    (claimed,) = store.claim_next("hook", now=NOW, lease=3600, owner=DEAD.id)
    assert claimed.id == "h-claimed"
    assert [c.name for c in store.claim_due(NOW, 5, DEAD.id, lease=3600, names=["Gamma"])] == [
        "Gamma"
    ]
    store.mark_seen("Alpha", [("old-1", "art-old-1"), ("old-2", "art-old-2")], now=NOW)
    store.record_item_problem(
        "Alpha", "bad-1", stage="extract", error="page too large", outcome="partial", now=NOW,
        article_id="art-bad-1",
    )  # fmt: skip
    store.record_item_problem(
        "Beta", "bad-2", stage="fetch", error="HTTP 404", outcome="failed", now=NOW,
        mark_seen=True,
    )  # fmt: skip
    notice = Alert(
        id="notice-1",
        channel="desk",
        article_id="notice:channel:hook",
        title="Channel hook is failing",
        url=None,
        source="news-monitor",
        published=None,
        rules=(),
        created=datetime.fromtimestamp(NOW, UTC),
        kind="notice",
    )
    store.save_notice_state(
        NoticeState("channel:hook", 3, NOW - 100, NOW - 50, "HTTP 503"), notice, now=NOW + 3
    )
    store.mute_rule("r-noisy", until=NOW + 3600, now=NOW)  # operators' steering is state too
    store.pause_channel("pager", now=NOW)
    assert store.record_feedback("art-k1", useful=True, who="editor", now=NOW) == 1  # web inbox
    return State(
        seen={
            "Alpha": ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "old-1", "old-2"],
            "Beta": ["k8", "bad-2"],
        },
        desk_order=[("z-desk",), ("a-desk",), ("m-desk",), ("notice-1",)],
        hook_pending={"h-retry", "h-claimed"},
    )


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[str, State]]:
    path = tmp_path / "source.db"
    store = open_store(path)
    state = build_state(store)
    store.close()
    yield f"sqlite:///{path}", state


def assert_same_state(a: Store, b: Store) -> None:
    """Every copied table holds the same rows in both; the destination's schema has no
    table the copy left out, other than the daemons'."""
    for table in TABLES:
        assert rows(a, table.name) == rows(b, table.name), table.name
    assert table_names(b) - {t.name for t in TABLES} == {"daemons"}


def test_copy_to_postgresql_keeps_every_row_and_clears_every_claim(
    source: tuple[str, State], pg_url: str
) -> None:
    url, _ = source
    copied = copy_state(url, pg_url, rows_per_page=2)  # several pages per table
    src, dest = open_store(url, readonly=True), open_store(pg_url)
    try:
        assert_same_state(src, dest)
        counts = {c.table: c.rows for c in copied}
        assert counts["outbox"] == 10 and counts["delivery_attempts"] == 4
        assert counts["sketches"] == 3 + 3 * 2 and counts["feeds"] == 3
        assert all(n > 0 for n in counts.values()), counts
        assert claims_held(src) == 2  # the dead daemon's feed and alert
        assert claims_held(dest) == 0
        assert dest.daemons(now=NOW, within=3000) == []  # daemons not copied
        # delivery attempts keep their order (their ids are the destination's own)
        assert [a.outcome for a in dest.attempts("h-failed")] == ["retry", "failed"]
    finally:
        src.close()
        dest.close()


def test_pending_alerts_go_out_in_the_same_order_and_sent_ones_never(
    source: tuple[str, State], pg_url: str
) -> None:
    url, state = source
    copy_state(url, pg_url)
    src, dest = open_store(url), open_store(pg_url)
    try:
        # the digest is not due yet; at its time both its alerts go out as one batch
        assert claim_all(src, "desk") == claim_all(dest, "desk") == state.desk_order
        src_digest = src.claim_next("desk", now=DIGEST_DUE, lease=60, owner="t")
        dest_digest = dest.claim_next("desk", now=DIGEST_DUE, lease=60, owner="t")
        assert [r.id for r in src_digest] == [r.id for r in dest_digest]
        assert sorted(r.id for r in dest_digest) == ["d1-desk", "d2-desk"]
        # the hook's alert claimed by the dead daemon is free in the copy; sent and failed
        # alerts are never handed out again
        (retried,) = [r for r in dest.outbox("pending") if r.id == "h-retry"]
        assert (retried.attempts, retried.next_attempt_at) == (1, NOW + 5)
        hook = {i for batch in claim_all(dest, "hook") for i in batch}
        assert hook == state.hook_pending
        assert {r.id for r in dest.outbox("sent")} == {"h-sent"}
        assert {r.id for r in dest.outbox("failed")} == {"h-failed"}
    finally:
        src.close()
        dest.close()


def test_seen_items_stay_seen_and_claims_are_free(source: tuple[str, State], pg_url: str) -> None:
    url, state = source
    copy_state(url, pg_url)
    dest = open_store(pg_url)
    try:
        for feed, keys in state.seen.items():
            assert dest.unseen(feed, [*keys, "new-item"]) == ["new-item"]
        # Gamma was held by the dead daemon on the source: here it can be claimed at once
        claims = dest.claim_due(NOW, 10, "new-daemon", lease=60)
        assert sorted(c.name for c in claims) == ["Gamma"]
        alpha = dest.feed_state("Alpha")
        assert alpha is not None and alpha.etag == '"e1"' and alpha.new_items == 9
        assert alpha.mean_lateness == 1.5
        beta = dest.feed_state("Beta")
        assert beta is not None and beta.consecutive_failures == 1 and beta.last_error == "HTTP 500"
        assert dest.failing_since("Beta") is not None
        assert dest.notice_state("channel:hook") == NoticeState(
            "channel:hook", 3, NOW - 100, NOW - 50, "HTTP 503"
        )
        assert dest.near_duplicate([7, 2**62, -(2**62)], since=0, min_shared=3) == "art-k8"
        assert [(p.feed, p.item_key, p.outcome) for p in dest.item_problems()] == [
            ("Alpha", "bad-1", "partial"),
            ("Beta", "bad-2", "failed"),
        ]
    finally:
        dest.close()


def test_copy_back_to_sqlite_gives_the_same_state(
    source: tuple[str, State], pg_url: str, tmp_path: Path
) -> None:
    url, _ = source
    copy_state(url, pg_url)
    back = tmp_path / "rollback" / "monitor.db"
    copy_state(pg_url, str(back), rows_per_page=3)
    src, pg, rolled = open_store(url, readonly=True), open_store(pg_url), open_store(back)
    try:
        assert_same_state(src, rolled)
        assert_same_state(pg, rolled)
        assert claim_all(rolled, "desk") == claim_all(pg, "desk")
        assert rolled.integrity_check() == "ok"
    finally:
        for store in (src, pg, rolled):
            store.close()


def test_copier_knows_every_column_of_both_schemas(tmp_path: Path, pg_url: str) -> None:
    """A migration that adds a column must teach the copier about it (or say it is left out)."""
    for store in (open_store(tmp_path / "s.db"), open_store(pg_url)):
        try:
            assert table_names(store) - {t.name for t in TABLES} == {"daemons"}
            for table in TABLES:
                have = set(columns(store, table.name))
                assert set(table.columns) <= have, table.name
                assert have - set(table.columns) <= set(table.left_out), table.name
                assert set(table.left_out) <= NOT_COMPARED
        finally:
            store.close()


def test_a_big_state_is_copied_without_holding_it_in_memory(tmp_path: Path, pg_url: str) -> None:
    """192 MiB of article text: the copy holds a page at a time (measured: 13 MiB at the
    peak, traced by tracemalloc), never the whole."""
    articles, size = 6000, 32 * 1024
    path = tmp_path / "big.db"
    store = sql(open_store(path))
    with store._tx() as db:
        db.executemany(
            "INSERT INTO articles (id, feed, title, text, created) VALUES (?, 'Alpha', ?, ?, ?)",
            (
                (f"art-{n:05d}", f"T {n}", f"{n:05d}" + "x" * (size - 5), NOW)
                for n in range(articles)
            ),
        )
    store.close()
    tracemalloc.start()
    try:
        copied = copy_state(f"sqlite:///{path}", pg_url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {c.table: c.rows for c in copied}["articles"] == articles
    assert peak < 128 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    dest = sql(open_store(pg_url))
    try:
        (total,) = dest._query("SELECT sum(length(text)) FROM articles")[0]
        assert total == articles * size
    finally:
        dest.close()


# --------------------------------------------------------------------------- refusals


def test_refuses_a_destination_that_already_holds_state(
    source: tuple[str, State], pg_url: str
) -> None:
    url, _ = source
    copy_state(url, pg_url)
    dest = open_store(pg_url)
    before = {t.name: rows(dest, t.name) for t in TABLES}
    with pytest.raises(StorageError, match="already holds state") as caught:
        copy_state(url, pg_url)
    assert caught.value.hint is not None and "DROP DATABASE" in caught.value.hint
    assert {t.name: rows(dest, t.name) for t in TABLES} == before
    dest.close()


def test_refuses_a_live_daemon(source: tuple[str, State], tmp_path: Path) -> None:
    url, _ = source
    store = open_store(url)
    store.register_daemon(
        DaemonInfo("live-1", "web-1", 123, "1.0", "abc"), now=time.time(), lease=60
    )
    store.close()
    dest = tmp_path / "dest.db"
    with pytest.raises(StorageError, match="a daemon is running on the source") as caught:
        copy_state(url, str(dest))
    assert "web-1" in str(caught.value) and "pid 123" in str(caught.value)
    assert caught.value.hint is not None and "stop the service" in caught.value.hint
    assert not dest.exists()  # refused before the destination was touched


def test_a_daemon_that_stopped_cleanly_does_not_block(
    source: tuple[str, State], tmp_path: Path
) -> None:
    url, _ = source
    store = open_store(url)
    daemon = DaemonInfo("gone-1", "web-1", 123, "1.0", "abc")
    store.register_daemon(daemon, now=time.time(), lease=60)
    store.retire_daemon(daemon.id, now=time.time())
    store.close()
    copied = copy_state(url, str(tmp_path / "dest.db"))
    assert {c.table: c.rows for c in copied}["outbox"] == 10


def test_refuses_a_live_daemon_on_the_destination(source: tuple[str, State], pg_url: str) -> None:
    url, _ = source
    dest = open_store(pg_url)
    dest.register_daemon(
        DaemonInfo("early-1", "web-2", 77, "1.0", "abc"), now=time.time(), lease=60
    )
    with pytest.raises(StorageError, match="a daemon is running on the destination"):
        copy_state(url, pg_url)
    assert rows(dest, "feeds") == []
    dest.close()


def test_refuses_the_same_sqlite_file_however_it_is_named(
    source: tuple[str, State], tmp_path: Path
) -> None:
    url, _ = source
    path = Path(url.removeprefix("sqlite:///"))
    link = tmp_path / "link.db"
    link.symlink_to(path)
    before = path.read_bytes()
    for other in (url, str(path), f"sqlite:///{link}"):
        with pytest.raises(StorageError, match="same database"):
            copy_state(url, other)
    assert path.read_bytes() == before


def test_refuses_the_same_postgresql_database_under_another_url(
    source: tuple[str, State], pg_url: str
) -> None:
    url, _ = source
    copy_state(url, pg_url)
    spelled = pg_url + ("&" if "?" in pg_url else "?") + "application_name=other"
    for other in (pg_url, spelled):
        with pytest.raises(StorageError, match="same database"):
            copy_state(pg_url, other)


def test_refuses_a_source_that_does_not_exist_and_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "monitor.db"
    dest = tmp_path / "dest.db"
    with pytest.raises(StorageError, match="source database does not exist") as caught:
        copy_state(f"sqlite:///{missing}", str(dest))
    assert caught.value.hint is not None and "--from" in caught.value.hint
    assert not missing.parent.exists() and not dest.exists()


def test_refuses_an_empty_postgresql_source(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="empty"):
        copy_state(pg_url, str(tmp_path / "dest.db"))
    assert not (tmp_path / "dest.db").exists()


def test_a_copy_that_fails_midway_leaves_the_destination_empty(
    source: tuple[str, State], pg_url: str
) -> None:
    """A match whose article is gone (SQLite without foreign keys enforced let it in):
    PostgreSQL refuses it after feeds, seen items and articles were already inserted."""
    url, _ = source
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    db.execute(
        "INSERT INTO matches (article_id, rule, evidence, created) VALUES ('lost', 'r1', '{}', 0)"
    )
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="foreign key"):
        copy_state(url, pg_url)
    dest = open_store(pg_url)
    try:
        assert all(rows(dest, t.name) == [] for t in TABLES)
    finally:
        dest.close()


# --------------------------------------------------------------------------- the service


def run_monitor(*args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NEWSROOM_SECRET=WEBHOOK_SECRET, PYTHONPATH=str(ROOT))
    env.pop("JOURNAL_STREAM", None)
    if db is not None:
        env["MONITOR_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_service_on_the_copy_sends_the_pending_alert_once_and_nothing_seen_again(
    tmp_path: Path, pg_url: str
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'var' / 'monitor.db'}"
    alerts_file = tmp_path / "var" / "alerts.jsonl"
    with NewsSite() as site, SmtpServer() as smtp, WebhookReceiver() as hook:
        stories = publish(site)
        config = write_config(
            tmp_path / "etc",
            feed_url=site.url + "/world.xml",
            smtp_port=smtp.port,
            webhook_url=hook.url,
            alerts_file=alerts_file,
        )
        hook.down()  # the webhook alerts stay pending on SQLite, to be retried in ~5 s
        first = run_monitor("run", "--once", "--config-dir", str(config), db=sqlite_url)
        assert first.returncode == 0, first.stderr
        assert len(smtp.messages) == 2
        file_alerts = alerts_file.read_text().splitlines()
        assert len(file_alerts) == 3
        before = open_store(sqlite_url, readonly=True)
        pending = {r.id for r in before.outbox("pending")}
        assert len(pending) == 2 and {r.channel for r in before.outbox("pending")} == {"newsroom"}
        due = before.next_due()
        before.close()

        migrated = run_monitor("migrate-state", "--from", sqlite_url, "--to", pg_url)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        for table in ("feeds", "seen_items", "outbox", "delivery_attempts"):
            assert f"  {table} " in migrated.stdout
        assert "counts verified" in migrated.stdout

        # the publisher edits its headlines: a 200 with the same items, already seen
        entries = [FeedEntry(f"EDITED {s.title}", s.url, f"desk-news-{s.slug}") for s in stories]
        site.add_feed("/world.xml", rss_feed("Desk News World", entries))
        hook.up()
        assert due is not None
        time.sleep(max(0.0, due - time.time()) + 0.2)
        second = run_monitor("run", "--once", "--config-dir", str(config), db=pg_url)
        assert second.returncode == 0, second.stderr
        again = run_monitor("run", "--once", "--config-dir", str(config), db=pg_url)
        assert again.returncode == 0, again.stderr

        assert sorted(r.headers["webhook-id"] for r in hook.requests) == sorted(pending)
        assert len(smtp.messages) == 2
        assert alerts_file.read_text().splitlines() == file_alerts
        after = open_store(pg_url)
        try:
            assert after.counts().get("outbox_pending", 0) == 0
            assert {r.id for r in after.outbox("sent")} >= pending
        finally:
            after.close()
