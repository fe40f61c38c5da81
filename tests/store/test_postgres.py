"""The PostgreSQL backend's own contract: whose database it is, migrations under a lock, clear
errors for a server that is not there, passwords never shown."""

from __future__ import annotations

import time

import psycopg
import pytest

from monitor.errors import StorageError
from monitor.store import open_store
from monitor.store.postgres import APPLICATION_ID, MIGRATIONS, redact_url
from tests.support.receivers import free_port


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
