"""The throwaway PostgreSQL server the store suite runs on (tests/support/postgres.py)."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import (
    SUPERUSER,
    Account,
    PostgresServer,
    PostgresStartError,
    PostgresUnavailable,
    find_bindir,
    start_server,
)

ROOT = Path(__file__).resolve().parents[2]


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # real, effective, saved, fs: the effective one
    raise AssertionError(f"no Uid line for pid {pid}")


def _other_addresses() -> list[str]:
    """Every address of this machine but 127.0.0.1: 127.0.0.2 (loopback too, so a server bound
    to 0.0.0.0 answers there), ::1 and the interfaces' own addresses (link-local ones aside)."""
    found = {"127.0.0.2"}
    for line in Path("/proc/net/fib_trie").read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "|--":
            last = words[1]
        elif line.strip() == "/32 host LOCAL":
            found.add(last)
    inet6 = Path("/proc/net/if_inet6")
    for line in inet6.read_text().splitlines() if inet6.exists() else ():
        address = ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))
        if not address.is_link_local:
            found.add(str(address))
    return sorted(found - {"127.0.0.1"})


def test_server_listens_on_127_0_0_1_only(pg_server: PostgresServer) -> None:
    with pg_server.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
        assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
    others = _other_addresses()
    assert "127.0.0.2" in others
    for address in others:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            with pytest.raises(ConnectionRefusedError):
                s.connect((address, pg_server.port))


def test_durability_is_off_and_connections_are_many(pg_server: PostgresServer) -> None:
    with pg_server.connect() as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            assert conn.execute(f"SHOW {setting}").fetchone() == ("off",), setting
        row = conn.execute("SHOW max_connections").fetchone()
        assert row is not None and int(str(row[0])) >= 200


def test_server_runs_as_an_unprivileged_account(pg_server: PostgresServer) -> None:
    with pg_server.connect() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    backend = int(str(row[0]))
    postmaster = int((pg_server.datadir / "postmaster.pid").read_text().split()[0])
    expected = Account.for_server().uid
    assert expected != 0
    assert _uid_of(postmaster) == expected
    assert _uid_of(backend) == expected
    assert pg_server.datadir.stat().st_uid == expected


def test_created_databases_are_empty_and_separate(pg_server: PostgresServer) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    try:
        assert first != second
        with psycopg.connect(first, autocommit=True) as a, psycopg.connect(second) as b:
            assert a.execute("SELECT current_user").fetchone() == (SUPERUSER,)
            for conn in (a, b):
                tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                assert conn.execute(tables).fetchone() == (0,)
                assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
            a.execute("CREATE TABLE feeds (url text PRIMARY KEY)")
            a.execute("INSERT INTO feeds VALUES ('https://example.org/feed')")
            assert a.execute("SELECT to_regclass('feeds')::text").fetchone() == ("feeds",)
            assert b.execute("SELECT to_regclass('feeds')").fetchone() == (None,)
    finally:
        pg_server.drop_database(first)
        pg_server.drop_database(second)


def test_drop_removes_a_database_that_still_has_sessions(pg_server: PostgresServer) -> None:
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    held = psycopg.connect(url)  # inside an open transaction holding a lock, never closed
    held.execute("CREATE TABLE t (x int)")
    held.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.perf_counter()
        pg_server.drop_database(url)
        assert time.perf_counter() - started < 10  # about 5 ms measured; FORCE waits up to 5 s
        with pg_server.connect() as conn:
            gone = "SELECT count(*) FROM pg_database WHERE datname = %s"
            assert conn.execute(gone, (name,)).fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(url).close()
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    finally:
        held.close()


def test_pg_url_is_a_fresh_database_of_its_own(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None and str(row[0]).startswith("test_")
        assert pg_url.endswith("/" + str(row[0]))
        tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        assert conn.execute(tables).fetchone() == (0,)


def test_db_url_names_a_store_on_each_backend(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    marked = request.node.get_closest_marker("pg") is not None
    if request.node.callspec.id == "sqlite":
        assert db_url == str(tmp_path / "m.db")
        assert not Path(db_url).exists()
        assert not marked
    else:
        assert db_url.startswith("postgresql://monitor@127.0.0.1:")
        assert marked
        with psycopg.connect(db_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_run_without_postgresql_tests_starts_no_server() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not pg",
            "-k",
            "db_url or listens",  # db_url's halves, and a test that asks for pg_server
            str(Path(__file__).relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, " in run.stdout  # the sqlite half only: with the others it would be 3
    assert "test PostgreSQL" not in run.stdout


def _tool(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_binaries_found_on_path_before_the_debian_layout(tmp_path: Path) -> None:
    for tool in ("initdb", "pg_ctl"):
        _tool(tmp_path / "path" / tool)
        _tool(tmp_path / "lib" / "16" / "bin" / tool)
    found = find_bindir(str(tmp_path / "path"), tmp_path / "lib")
    assert found == (tmp_path / "path").resolve()


def test_binaries_found_in_the_newest_debian_version(tmp_path: Path) -> None:
    for version in ("9", "13", "15"):
        for tool in ("initdb", "pg_ctl"):
            _tool(tmp_path / "lib" / version / "bin" / tool)
    _tool(tmp_path / "lib" / "17" / "bin" / "initdb")  # incomplete: no pg_ctl
    (tmp_path / "empty").mkdir()
    assert find_bindir(str(tmp_path / "empty"), tmp_path / "lib") == tmp_path / "lib/15/bin"


def test_no_binaries_is_reported_as_unavailable(tmp_path: Path) -> None:
    _tool(tmp_path / "path" / "initdb")  # pg_ctl missing
    with pytest.raises(PostgresUnavailable, match="install PostgreSQL"):
        find_bindir(str(tmp_path / "path"), tmp_path / "nothing")


@pytest.mark.pg
def test_a_server_that_cannot_start_is_an_error_with_its_log() -> None:
    try:
        find_bindir()
    except PostgresUnavailable as e:
        pytest.skip(str(e))
    with pytest.raises(PostgresStartError, match=r"(?s)server log.*max_connections") as failed:
        start_server({"max_connections": "many"})
    assert failed.value.base.name.startswith("monitor-pg-")
    assert not failed.value.base.exists()
