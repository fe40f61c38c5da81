"""The PostgreSQL backend's own contract: whose database it is, migrations under a lock, clear
errors for a server that is not there, passwords never shown."""

from __future__ import annotations

import time

import psycopg
import pytest

from monitor.errors import StorageError
from monitor.store import open_store
from monitor.store.postgres import APPLICATION_ID, MIGRATIONS, redact_url
from tests.hostile.test_isolation import STORY, feed, poll, queued_titles
from tests.support.receivers import free_port
from tests.support.site import FeedEntry, NewsSite, rss_feed


def test_a_new_database_is_marked_as_ours(pg_url: str) -> None:
    store = open_store(pg_url)
    store.close()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT application_id, version FROM news_monitor").fetchone()
    assert row == (APPLICATION_ID, len(MIGRATIONS))
    assert APPLICATION_ID.to_bytes(4, "big") == b"NMON"


def test_a_database_of_another_application_is_refused_and_left_unchanged(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id integer)")
    with pytest.raises(StorageError, match=r"not news-monitor's.*'customers'") as caught:
        open_store(pg_url)
    assert caught.value.hint and "database of its own" in caught.value.hint
    with psycopg.connect(pg_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert tables == {"customers"}


def test_a_schema_newer_than_this_program_is_refused(pg_url: str) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE news_monitor SET version = 99")
    with pytest.raises(StorageError, match="schema version 99 is newer"):
        open_store(pg_url)


def test_a_readonly_store_reads_and_refuses_writes(pg_url: str) -> None:
    open_store(pg_url).close()
    reader = open_store(pg_url, readonly=True)
    try:
        assert reader.counts()["seen_items"] == 0
        with pytest.raises(StorageError, match="read-only"):
            reader.retry_failed(now=0.0)
    finally:
        reader.close()


def test_an_empty_database_read_only_says_the_service_has_not_run(pg_url: str) -> None:
    with pytest.raises(StorageError, match="empty \\(the service has not run\\)"):
        open_store(pg_url, readonly=True)


def test_a_server_that_is_not_there_is_a_clear_error_without_the_password() -> None:
    url = f"postgresql://desk:s3cret-pass@127.0.0.1:{free_port()}/news"
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        open_store(url)
    error = caught.value
    assert time.monotonic() - started < 10  # refused at once, not retried until a timeout
    assert "cannot reach PostgreSQL" in str(error) and "s3cret-pass" not in str(error)
    assert error.subject == "postgresql://desk:***@127.0.0.1:" + url.split(":")[3]
    assert redact_url(url).count("***") == 1


def test_store_work_waits_at_most_the_lock_timeout_for_a_row_another_session_holds(
    pg_url: str,
) -> None:
    store = open_store(pg_url)
    with psycopg.connect(pg_url) as other:
        other.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")  # open transaction
        started = time.monotonic()
        with pytest.raises(StorageError, match="lock was held by another session") as caught:
            store.retry_failed(now=0.0)
        waited = time.monotonic() - started
    store.close()
    assert 4 <= waited < 15 and caught.value.hint and "long transaction" in caught.value.hint


def test_a_lock_held_past_the_timeout_fails_the_poll_and_loses_nothing(pg_url: str) -> None:
    store = open_store(pg_url)
    entries = [FeedEntry(f"Report {n}", "", f"r{n}", STORY) for n in range(5)]
    try:
        with NewsSite() as site, psycopg.connect(pg_url) as other:
            url = site.add_feed("/f.xml", rss_feed("F", entries))
            other.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")  # reads go on, writes wait
            (locked,) = poll(store, feed("F", url, extract=False))
            other.rollback()
            (freed,) = poll(store, feed("F", url, extract=False))
        assert locked.status == "failed" and "lock was held" in (locked.error or "")
        assert (freed.status, freed.new, freed.queued) == ("ok", 5, 5)
        assert len(queued_titles(store)) == 5
    finally:
        store.close()


def test_connections_cut_by_the_server_are_replaced_before_use(pg_url: str) -> None:
    store = open_store(pg_url)
    entries = [FeedEntry(f"Report {n}", "", f"r{n}", STORY) for n in range(5)]
    try:
        with NewsSite() as site, psycopg.connect(pg_url, autocommit=True) as admin:
            url = site.add_feed("/f.xml", rss_feed("F", entries))
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'news-monitor' AND datname = current_database()"
            ).fetchone()
            assert cut is not None and cut[0] >= 1
            reports = [poll(store, feed("F", url, extract=False))[0] for _ in range(3)]
        assert [r.status for r in reports] == ["ok", "not_modified", "not_modified"]
        assert reports[0].queued == 5 and len(queued_titles(store)) == 5
    finally:
        store.close()
