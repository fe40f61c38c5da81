"""A throwaway PostgreSQL server for tests, as a pytest plugin (registered by tests/conftest.py).

The server is made from the binaries on PATH (or /usr/lib/postgresql/*/bin): `initdb` into a
fresh directory under /tmp, `pg_ctl start` on 127.0.0.1 with a random free port, no Unix
socket, fsync and synchronous commit off. PostgreSQL refuses to run as root, so when the tests
run as root (here and in CI) initdb and pg_ctl run as `nobody`, and the data directory is
chowned to it. The server starts the first time a test asks for it, once per session, and is
stopped (`pg_ctl stop -m immediate`) and removed at the end of the session, failed or not, with
an atexit hook as a backstop. A `kill -9` of pytest itself leaves it running: its directory is
/tmp/monitor-pg-*.

Fixtures:
    pg_server  (session)   PostgresServer: host, port, user, url(dbname), create_database(),
                           drop_database(url), stop()
    pg_url     (function)  a fresh empty database's URL, dropped after the test
    db_url     (function)  parametrized "sqlite" (a file path under tmp_path) and "postgresql"
                           (a fresh database URL): the store and pipeline suite runs on both

Every test that uses the server (db_url's "postgresql" half, and any test asking for pg_server
or pg_url) is marked `pg`, so `pytest -m "not pg"` runs without PostgreSQL.

Under pytest-xdist (`make test` runs two workers) each worker has a server of its own.

Tests skip only where no PostgreSQL binaries exist; a server that is there but fails to start is
an error, with its log in the message.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import psycopg

HOST = "127.0.0.1"
SUPERUSER = "monitor"
RUN_AS = "nobody"  # the account initdb and the server run as when the tests run as root
START_TIMEOUT = 60.0  # seconds; a cold start takes about 1 s on an idle machine
STOP_TIMEOUT = 60.0
ADMIN_TIMEOUT_MS = 60_000  # CREATE/DROP DATABASE on the admin connection
TOOLS = ("initdb", "pg_ctl")
PORT_ATTEMPTS = 5  # a port picked free can be taken by someone else before the server binds it
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",  # TCP on 127.0.0.1 only
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",  # several daemons, each with a pool, plus the tests' own
    "shared_buffers": "32MB",
    "max_wal_size": "1GB",  # no checkpoints forced by WAL volume during a run
}


class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries on this machine."""


class PostgresStartError(Exception):
    """The binaries are there but the server did not start; the message holds its log."""

    def __init__(self, message: str, base: Path) -> None:
        super().__init__(f"{message}\n(server directory {base}, removed)")
        self.base = base


def find_bindir(path: str | None = None, debian_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then the newest Debian layout."""
    on_path = shutil.which("initdb", path=path)
    if on_path and shutil.which("pg_ctl", path=path):
        return Path(on_path).resolve().parent
    versions = [
        d / "bin"
        for d in (debian_root.iterdir() if debian_root.is_dir() else ())
        if d.name.isdigit() and all(os.access(d / "bin" / t, os.X_OK) for t in TOOLS)
    ]
    if not versions:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (initdb and pg_ctl neither on PATH nor in "
            f"{debian_root}/*/bin): install PostgreSQL 13+ to run the PostgreSQL tests"
        )
    return max(versions, key=lambda b: int(b.parent.name))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Account:
    """Who runs initdb and the server: ourselves, or `nobody` when we are root."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_server(cls) -> Account:
        if os.geteuid() != 0:
            return cls(os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name)
        entry = pwd.getpwnam(RUN_AS)
        return cls(entry.pw_uid, entry.pw_gid, RUN_AS)

    def run(self, args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run one PostgreSQL tool as this account (setuid in the child; no PAM, no su)."""
        switch = os.geteuid() == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return subprocess.run(
            args,
            cwd=cwd,
            env=env,
            user=self.uid if switch else None,
            group=self.gid if switch else None,
            extra_groups=[] if switch else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@dataclass
class PostgresServer:
    """One running server; every database it makes belongs to the `monitor` superuser."""

    bindir: Path
    base: Path  # owned by the server's account: data/ and server.log inside
    account: Account
    port: int
    host: str = HOST
    user: str = SUPERUSER
    settings: dict[str, str] = field(default_factory=lambda: dict(SERVER_SETTINGS))
    start_seconds: float = 0.0
    create_seconds: list[float] = field(default_factory=list)
    drop_seconds: list[float] = field(default_factory=list)
    _admin: psycopg.Connection[tuple[object, ...]] | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to one database (the caller closes it)."""
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10)

    def create_database(self) -> str:
        """A fresh, empty, uniquely named database; its URL."""
        with self._lock:
            name = f"test_{next(self._names)}"
            started = time.perf_counter()
            self._admin_connection().execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            self.create_seconds.append(time.perf_counter() - started)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by create_database, ending any sessions still connected to it."""
        name = url.rsplit("/", 1)[1]
        with self._lock:
            started = time.perf_counter()
            self._admin_connection().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.drop_seconds.append(time.perf_counter() - started)

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._stopped:
            raise RuntimeError("the test PostgreSQL server was stopped")
        if self._admin is None or self._admin.closed:
            self._admin = self.connect()
            self._admin.execute(f"SET statement_timeout = {ADMIN_TIMEOUT_MS}")
        return self._admin

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server at once and remove its directory; safe to call twice.

        The session fixture calls this at the end; a test that needs a server to go away
        starts one of its own with start_server().
        """
        if self._stopped:
            return
        self._stopped = True
        if self._admin is not None:
            self._admin.close()
        try:
            self.account.run(
                [
                    str(self.bindir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT)),
                ],
                cwd=self.base,
                timeout=STOP_TIMEOUT + 10,
            )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_server(settings: Mapping[str, str] | None = None) -> PostgresServer:
    """initdb and start a server with SERVER_SETTINGS updated by `settings`.

    Raises PostgresUnavailable without binaries, PostgresStartError when they fail.
    """
    bindir = find_bindir()
    account = Account.for_server()
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    try:
        os.chown(base, account.uid, account.gid)
        server = PostgresServer(bindir=bindir, base=base, account=account, port=0)
        server.settings = {**SERVER_SETTINGS, **(settings or {})}
        initdb = account.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=base,
            timeout=START_TIMEOUT,
        )
        if initdb.returncode != 0:
            raise PostgresStartError(
                f"initdb failed ({initdb.returncode}) as {account.name}:\n"
                f"{initdb.stdout}{initdb.stderr}",
                base,
            )
        _start_on_free_port(server)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    server.start_seconds = time.perf_counter() - started
    return server


def _start_on_free_port(server: PostgresServer) -> None:
    for _attempt in range(PORT_ATTEMPTS):
        server.port = free_port()
        seen = len(server.log())
        options = " ".join(f"-c {k}={v or repr('')}" for k, v in server.settings.items())
        result = server.account.run(
            [
                str(server.bindir / "pg_ctl"),
                "start",
                "-D",
                str(server.datadir),
                "-l",
                str(server.logfile),
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "-o",
                f"-p {server.port} {options}",
            ],
            cwd=server.base,
            timeout=START_TIMEOUT + 10,
        )
        if result.returncode == 0:
            _wait_for_connections(server)
            return
        if "Address already in use" not in server.log()[seen:]:
            raise PostgresStartError(
                f"pg_ctl start failed ({result.returncode}) on port {server.port}:\n"
                f"{result.stdout}{result.stderr}\n--- server log ---\n{server.log()}",
                server.base,
            )
    raise PostgresStartError(
        f"no free port after {PORT_ATTEMPTS} attempts\n--- server log ---\n{server.log()}",
        server.base,
    )


def _wait_for_connections(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            server.connect().close()
            return
        except psycopg.OperationalError as e:
            if time.monotonic() > deadline:
                raise PostgresStartError(
                    f"server on port {server.port} accepts no connections after "
                    f"{START_TIMEOUT:.0f} s: {e}\n--- server log ---\n{server.log()}",
                    server.base,
                ) from e
            time.sleep(0.05)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = start_server()
    except PostgresUnavailable as e:
        pytest.skip(str(e))
    atexit.register(server.stop)
    _started.append(server)
    try:
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)],
    ids=["sqlite", "postgresql"],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "m.db")
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


_started: list[PostgresServer] = []
_from_workers: list[str] = []  # the figures of xdist workers' servers


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `pg` every test that asks for the server, so `-m "not pg"` never starts one."""
    for item in items:
        if {"pg_server", "pg_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pg)


def _summaries() -> list[str]:
    lines = []
    for server in _started:
        made, dropped = server.create_seconds, server.drop_seconds
        lines.append(
            f"test PostgreSQL (port {server.port}): started in {server.start_seconds:.2f} s; "
            f"{len(made)} databases created, mean {_mean_ms(made):.0f} ms, "
            f"max {max(made, default=0) * 1000:.0f} ms; "
            f"{len(dropped)} dropped, mean {_mean_ms(dropped):.0f} ms"
        )
    return lines


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist each worker starts its own server: a worker hands its figures to
    the controller, which prints them with its own."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["pg_summaries"] = _summaries()


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_WorkerFigures(), "monitor-pg-worker-figures")


class _WorkerFigures:
    @pytest.hookimpl
    def pytest_testnodedown(self, node: object, error: object) -> None:
        _from_workers.extend(getattr(node, "workeroutput", {}).get("pg_summaries", ()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line of figures per server the session started (start, create and drop times)."""
    for line in [*_from_workers, *_summaries()]:
        terminalreporter.write_line(line)


def _mean_ms(seconds: list[float]) -> float:
    return sum(seconds) / len(seconds) * 1000 if seconds else 0.0
