"""The service under systemd: the unit's hardening as systemd-analyze sees it, the system
calls and writes of the real daemon against what the unit allows, and the notify protocol
(READY=1, readable STATUS= lines, WATCHDOG=1 from the event loop).

The systemd-analyze checks skip, saying so, where systemd-analyze is not installed; the
system-call check skips where strace is not. The unit names /opt/news-monitor/.venv/bin/monitor,
which `verify` requires to exist: it verifies a copy whose commands point at this checkout's
own `monitor` (the one the tests run), everything else unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.receivers import free_port
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "news-monitor.service"
INSTALLED = "/opt/news-monitor/.venv/bin/monitor"
MAX_EXPOSURE = 1.5

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed here: the unit's security score and verify"
    " are NOT checked on this machine",
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


# --------------------------------------------------------------------------- the unit


@needs_analyze
def test_unit_exposure_is_at_most_1_5() -> None:
    result = analyze("security", "--offline=yes", str(UNIT))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


@needs_analyze
def test_unit_verifies_clean(tmp_path: Path) -> None:
    monitor = Path(sys.executable).parent / "monitor"
    assert monitor.is_file(), f"{monitor}: install the project into this virtualenv"
    text = UNIT.read_text()
    assert INSTALLED in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED, str(monitor)))
    result = analyze("verify", "--man=no", str(copy))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_unit_keeps_notify_watchdog_directories_and_reload() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] == ["120s"]
    assert s["ConfigurationDirectory"] == s["StateDirectory"] == ["news-monitor"]
    assert s["ExecStartPre"] == [f"{INSTALLED} check"]
    assert s["ExecStart"] == [f"{INSTALLED} run"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "# LoadCredential=SMTP_PASSWORD" in UNIT.read_text()


def test_every_setting_in_the_unit_says_why() -> None:
    """Commented line by line: each setting follows a comment (or another setting of the
    same block, which the comment covers), never a blank line or a section header."""
    previous = ""
    for number, line in enumerate(UNIT.read_text().splitlines(), 1):
        if line and not line.startswith(("#", "[")):
            assert previous.strip(), f"{UNIT.name}:{number}: {line!r} has no comment above it"
            assert not previous.startswith("["), f"{UNIT.name}:{number}: {line!r} says not why"
        previous = line


# --------------------------------------------------------------------------- the daemon


def config_dir(tmp_path: Path, site: NewsSite, alerts: Path) -> Path:
    """Two feeds in force (one answers 503) and one disabled; a rule that alerts to a file
    and to a webhook nobody listens on (its alert stays pending)."""
    ok = site.add_feed(
        "/ok.xml",
        rss_feed("OK", [FeedEntry(f"Tehran {n}", f"https://x.org/{n}", f"t{n}") for n in (1, 2)]),
    )
    down = site.put("/down.xml", Resource(b"down", "text/plain", status=503))
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "feeds.yaml").write_text(
        "defaults: {interval: 1h, extract: false}\nfeeds:\n"
        f'  - {{name: OK, url: "{ok}"}}\n'
        f'  - {{name: Down, url: "{down}"}}\n'
        f'  - {{name: Paused, url: "{site.url}/off.xml", enabled: false}}\n'
    )
    (etc / "rules.yaml").write_text(
        "entities:\n  iran: {aliases: [Iran, Tehran]}\n"
        "channels:\n"
        f'  out: {{type: file, path: "{alerts}"}}\n'
        f'  hook: {{type: webhook, url: "http://127.0.0.1:{free_port()}/hook", timeout: 2s}}\n'
        "rules:\n  - {name: iran, query: '@iran', channels: [out, hook]}\n"
    )
    return etc


@pytest.fixture
def unit_tmp() -> Iterator[Path]:
    """The unit's TMPDIR, short: the worker pool's forkserver binds an AF_UNIX socket in it,
    whose path must fit in 108 bytes (a pytest-xdist worker's tmp_path leaves no room)."""
    path = Path(tempfile.mkdtemp(prefix="monitor-unit-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def systemd_env(tmp_path: Path, etc: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment systemd gives the unit, with its directories under tmp_path."""
    state, cache = tmp_path / "state", tmp_path / "cache"
    for d in (state, cache):
        d.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CONFIGURATION_DIRECTORY=str(etc),
        STATE_DIRECTORY=str(state),
        CACHE_DIRECTORY=str(cache),
        TMPDIR=str(tmp),
        **extra,
    )
    return env


class Notifications:
    """A NOTIFY_SOCKET: an AF_UNIX datagram socket bound in tmp_path, as systemd's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[tuple[float, str]] = []

    def next(self, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> str:
        """The next message; with `proc`, fail as soon as it exits instead."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(min(1.0, max(0.01, deadline - time.monotonic())))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                assert proc is None or proc.poll() is None, "the daemon exited"
                continue
            break
        self.received.append((time.perf_counter(), message))
        return message

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.next(left)
            except TimeoutError:
                break
            if found := re.search(pattern, message):
                return found
        raise AssertionError(f"no {pattern!r} in {[m for _, m in self.received]}")

    def close(self) -> None:
        self.sock.close()


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


STATUS = (
    r"STATUS=(?P<feeds>[\d,]+) feeds, (?P<disabled>[\d,]+) disabled,"
    r" (?P<failing>[\d,]+) failing, (?P<pending>[\d,]+) alerts? pending,"
    r" (?P<event>started|rules reloaded|reload rejected) (?P<at>\d\d:\d\d)$"
)


def test_run_notifies_ready_readable_status_and_watchdog(tmp_path: Path, unit_tmp: Path) -> None:
    alerts = tmp_path / "state" / "alerts.jsonl"
    notify = Notifications(tmp_path / "notify.sock")
    with NewsSite() as site:
        etc = config_dir(tmp_path, site, alerts)
        env = systemd_env(
            tmp_path, etc, unit_tmp, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000"
        )
        cmd = [sys.executable, "-m", "monitor", "run"]
        with running(cmd, env, tmp_path / "state", tmp_path / "log") as proc:
            try:
                first = notify.next(60, proc)
                assert first.startswith("READY=1\n"), first
                ready = re.search(STATUS, first.split("\n", 1)[1])
                assert ready, first
                assert (ready["feeds"], ready["disabled"], ready["event"]) == ("2", "1", "started")
                # The polls end: the OK feed alerted to the file, the Down feed failed, the
                # webhook's alert waits for a retry. A reload then reports the figures.
                deadline = time.monotonic() + 30
                while not (alerts.exists() and alerts.read_text().count("\n") == 2):
                    assert time.monotonic() < deadline, (tmp_path / "log").read_text()
                    time.sleep(0.1)
                for _ in range(20):
                    proc.send_signal(signal.SIGHUP)
                    status = notify.wait_for(
                        STATUS.replace("(?P<event>", "(?P<event>rules reloaded|")
                    )
                    if status["event"] == "rules reloaded" and status["failing"] == "1":
                        break
                    time.sleep(0.5)
                assert status.groupdict() | {"at": ""} == {
                    "feeds": "2",
                    "disabled": "1",
                    "failing": "1",
                    "pending": "2",
                    "event": "rules reloaded",
                    "at": "",
                }, [m for _, m in notify.received]
                assert status["at"] == time.strftime("%H:%M") or status["at"] == time.strftime(
                    "%H:%M", time.localtime(time.time() - 60)
                )
                # A broken edit: rejected, and STATUS= says so.
                (etc / "rules.yaml").write_text("rules: [")
                proc.send_signal(signal.SIGHUP)
                notify.wait_for(r"STATUS=.*, reload rejected \d\d:\d\d$")
                # The watchdog keeps being pinged, about every second (WATCHDOG_USEC / 2).
                start = len(notify.received)
                time.sleep(4)
                while True:
                    try:
                        notify.next(0.1)
                    except TimeoutError:
                        break
                pings = [m for _, m in notify.received[start:] if m == "WATCHDOG=1"]
                assert len(pings) >= 2, notify.received
            finally:
                notify.close()
        assert proc.returncode == 0, (tmp_path / "log").read_text()


# --------------------------------------------------------------------------- under strace


def syscall_groups() -> dict[str, list[str]]:
    """systemd's system-call groups as `systemd-analyze syscall-filter` lists them."""
    groups: dict[str, list[str]] = {}
    current: list[str] = []
    for line in analyze("syscall-filter").stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(name: str, groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for entry in groups[name]:
        out |= expand(entry, groups) if entry.startswith("@") else {entry}
    return out


def allowed_syscalls() -> set[str]:
    """What the unit's SystemCallFilter= lines let through."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for value in unit_settings()["SystemCallFilter"]:
        deny = value.startswith("~")
        names: set[str] = set()
        for entry in value.lstrip("~").split():
            names |= expand(entry, groups) if entry.startswith("@") else {entry}
        allowed = allowed - names if deny else allowed | names
    return allowed


# Within one line: a call strace left <unfinished ...> must not borrow the flags of another.
WRITE_OPEN = re.compile(r'open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", [^)\n]*O_(?:WRONLY|RDWR|CREAT)')
# Names relative to a directory descriptor (shutil.rmtree's unlinkat) are left out: that
# directory was opened by an absolute path, and removing names in it is checked with it.
PATH_CHANGE = re.compile(r'(?:mkdir|unlink|rename|rmdir)(?:at)?\((?:AT_FDCWD, )?"([^"]+)"')
SOCKET_BIND = re.compile(r'bind\(\d+, \{sa_family=AF_UNIX, sun_path="([^"]+)"')


def traced(strace: int) -> int:
    """The process strace started (signals to strace itself do not reach it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{strace}/task/{strace}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("strace started nothing")


@needs_analyze
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed here")
def test_the_daemon_stays_within_the_units_syscalls_and_writable_paths(
    tmp_path: Path, unit_tmp: Path
) -> None:
    """systemd cannot run in this container, so the daemon runs under strace in the
    environment the unit gives it; every system call it makes must pass the unit's filter,
    and every file it writes must be in a directory the unit leaves writable."""
    alerts = tmp_path / "state" / "alerts.jsonl"
    trace = tmp_path / "strace.out"
    with NewsSite() as site:
        etc = config_dir(tmp_path, site, alerts)
        env = systemd_env(tmp_path, etc, unit_tmp, PYTHONDONTWRITEBYTECODE="1")
        cmd = ["strace", "-f", "-qq", "-o", str(trace), sys.executable, "-m", "monitor", "run"]
        with running(cmd, env, tmp_path / "state", tmp_path / "log") as proc:
            deadline = time.monotonic() + 60
            while not (alerts.exists() and alerts.read_text().count("\n") == 2):
                assert time.monotonic() < deadline, (tmp_path / "log").read_text()
                assert proc.poll() is None, (tmp_path / "log").read_text()
                time.sleep(0.2)
            daemon = traced(proc.pid)
            os.kill(daemon, signal.SIGHUP)  # a reload starts new workers
            time.sleep(3)
            os.kill(daemon, signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, (tmp_path / "log").read_text()
    text = trace.read_text()
    used = set(re.findall(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", text, re.MULTILINE))
    assert "clone" in used or "clone3" in used or "fork" in used  # it did start workers
    # SQLite hands its journal and WAL files to the database's owner (fchown) only when it
    # runs as root, as this test may; the unit never does (User=news-monitor).
    as_root = {"fchown"} if os.geteuid() == 0 else set()
    assert not used - allowed_syscalls() - as_root
    writable = [str(tmp_path / d) for d in ("state", "cache")] + [
        str(unit_tmp),
        "/dev/shm",
        "/dev/null",
    ]
    found = WRITE_OPEN.findall(text) + PATH_CHANGE.findall(text) + SOCKET_BIND.findall(text)
    written = {str(tmp_path / "state" / p) for p in found}  # relative ones: to the cwd
    assert str(tmp_path / "state" / "monitor.db-wal") in written  # the parsing sees writes
    outside = {p for p in written if not p.startswith(tuple(writable))}
    assert not outside
