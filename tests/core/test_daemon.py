"""The service as operators run it: reloads, a broken edit, signals, a second instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]

RULES = """\
entities:
  iran: {aliases: [Iran, Tehran]}
channels:
  out: {type: file, path: "%s"}
rules:
  - {name: first, query: '@iran', channels: [out]}
"""


def monitor(*args: str, db: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MONITOR_DB=str(db), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], env=env, capture_output=True, text=True, **kw
    )  # type: ignore[call-overload,no-any-return]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path, NewsSite]]:
    with NewsSite() as site:
        url = site.add_feed(
            "/f.xml", rss_feed("F", [FeedEntry("Tehran talks", "https://x.org/1", "1")])
        )
        config = tmp_path / "etc"
        config.mkdir()
        (config / "feeds.yaml").write_text(
            f'defaults: {{interval: 1h, extract: false}}\nfeeds:\n  - {{name: F, url: "{url}"}}\n'
        )
        (config / "rules.yaml").write_text(RULES % (tmp_path / "alerts.jsonl"))
        yield config, tmp_path / "monitor.db", site


def test_a_broken_edit_is_rejected_and_the_service_keeps_running(
    setup: tuple[Path, Path, NewsSite], tmp_path: Path
) -> None:
    config, db, _ = setup
    daemon = Daemon(config, db, tmp_path / "log")
    try:
        daemon.wait_for("event='service_started'")
        good = (config / "rules.yaml").read_text()
        (config / "rules.yaml").write_text(
            good + "  - {name: second, query: '@nobody AND', " + "channels: [out]}\n"
        )
        daemon.wait_for("event='reload_rejected'")
        assert "rules.yaml:7:" in daemon.output() and "unknown entity '@nobody'" in daemon.output()
        (config / "rules.yaml").write_text(
            good + "  - {name: second, query: 'talks', " + "channels: [out]}\n"
        )
        daemon.wait_for("event='config_reloaded' feeds=1 rules=2")
        os.kill(daemon.proc.pid, signal.SIGHUP)
        daemon.wait_for("event='config_reloaded' feeds=1 rules=2", timeout=10, count=2)
    finally:
        code = daemon.stop()
    assert code == 0
    assert "event='service_stopped'" in daemon.output()


def test_a_second_daemon_on_the_same_database_shares_it_and_alerts_once(
    setup: tuple[Path, Path, NewsSite], tmp_path: Path
) -> None:
    config, db, _ = setup
    daemon = Daemon(config, db, tmp_path / "log")
    try:
        daemon.wait_for("event='alert_sent'")
        second = monitor("run", "--once", "--config-dir", str(config), db=db, timeout=60)
        assert second.returncode == 0, second.stderr
        status = monitor("status", db=db, timeout=60)
        assert "daemons: 1 live, same configuration" in status.stdout
        assert f"pid={daemon.proc.pid} " in status.stdout
    finally:
        assert daemon.stop() == 0
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the second daemon found the item seen
    after = monitor("status", db=db, timeout=60)
    assert "daemons: none running" in after.stdout


def test_invalid_configuration_at_start_lists_every_problem(
    setup: tuple[Path, Path, NewsSite],
) -> None:
    config, db, _ = setup
    (config / "feeds.yaml").write_text("defaults: {interval: soon}\nfeeds:\n  - {name: F}\n")
    result = monitor("run", "--config-dir", str(config), db=db, timeout=60)
    assert result.returncode == 1
    assert "feeds.yaml:1:22: defaults.interval: expected a duration" in result.stderr
    assert "feeds.yaml:3:5: feeds[0].url: is required" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_check_prints_a_summary_and_redacts_secrets(
    setup: tuple[Path, Path, NewsSite],
) -> None:
    config, db, _ = setup
    result = monitor("check", "--config-dir", str(config), db=db, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 feeds, 1 entities, 1 rules, 1 channels" in result.stdout


def test_status_and_deliveries_after_a_run(setup: tuple[Path, Path, NewsSite]) -> None:
    config, db, _ = setup
    assert monitor("run", "--once", "--config-dir", str(config), db=db, timeout=60).returncode == 0
    status = monitor("status", db=db, timeout=60)
    assert "F: last success" in status.stdout and "outbox_sent=1" in status.stdout
    log = monitor("deliveries", "-v", db=db, timeout=60)
    assert " sent " in log.stdout and "Tehran talks" in log.stdout
    assert monitor("deliveries", "retry", "--failed", db=db, timeout=60).stdout.startswith("0 ")


def test_systemd_notify_ready_and_stopping(
    setup: tuple[Path, Path, NewsSite], tmp_path: Path
) -> None:
    import contextlib
    import socket

    config, db, _ = setup
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(30)
        env = dict(
            os.environ,
            MONITOR_DB=str(db),
            PYTHONPATH=str(ROOT),
            NOTIFY_SOCKET=address,
            WATCHDOG_USEC="2000000",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ready = sock.recv(4096).decode()
            assert ready.startswith("READY=1\nSTATUS=1 feed, ")
            assert sock.recv(4096) == b"WATCHDOG=1"
        finally:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        sock.setblocking(False)
        messages = []
        with contextlib.suppress(BlockingIOError):
            while True:
                messages.append(sock.recv(4096).decode())
    assert messages[-1] == "STOPPING=1"


def test_sigterm_lets_the_send_in_flight_finish_and_keeps_the_rest(tmp_path: Path) -> None:
    import sqlite3

    from tests.support.receivers import Reply, WebhookReceiver

    items = [FeedEntry(f"Tehran {n}", f"https://x.org/{n}", f"t{n}", "Iran") for n in range(3)]
    with NewsSite() as site, WebhookReceiver([Reply(200, hang=2)]) as hook:
        url = site.add_feed("/f.xml", rss_feed("F", items))
        config = tmp_path / "etc"
        config.mkdir()
        (config / "feeds.yaml").write_text(
            f'defaults: {{interval: 1h, extract: false}}\nfeeds:\n  - {{name: F, url: "{url}"}}\n'
        )
        (config / "rules.yaml").write_text(
            "entities:\n  iran: {aliases: [Iran, Tehran]}\n"
            f'channels:\n  hook: {{type: webhook, url: "{hook.url}"}}\n'
            "rules:\n  - {name: r, query: '@iran', channels: [hook]}\n"
        )
        db = tmp_path / "monitor.db"
        daemon = Daemon(config, db, tmp_path / "log")
        deadline = time.monotonic() + 30
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(hook.requests) == 1, daemon.output()
        assert daemon.stop() == 0  # SIGTERM while the first send hangs for 2 s
        assert "unfinished_sends=0" in daemon.output()
        with sqlite3.connect(db) as conn:
            states = sorted(r[0] for r in conn.execute("SELECT status FROM outbox"))
        assert states == ["pending", "pending", "sent"]

        second = Daemon(config, db, tmp_path / "log2")
        deadline = time.monotonic() + 30
        while len(hook.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.stop() == 0
    ids = [r.headers["webhook-id"] for r in hook.requests]
    assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize("kind", ["alert", "digest", "summary", "notice"])
def test_send_test_reaches_a_real_smtp_server(tmp_path: Path, kind: str) -> None:
    from tests.support.receivers import SmtpServer

    with SmtpServer() as smtp:
        (tmp_path / "feeds.yaml").write_text("feeds: []\n")
        (tmp_path / "rules.yaml").write_text(
            "channels:\n  desk: {type: email, to: [desk@example.org], from: m@example.org,"
            f" smtp: {{host: 127.0.0.1, port: {smtp.port}}}}}\nrules: []\n"
        )
        result = monitor(
            "send-test",
            "desk",
            "--kind",
            kind,
            "--config-dir",
            str(tmp_path),
            db=tmp_path / "m.db",
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"desk: sample {kind} sent (status 250)")
        (message,) = smtp.messages
    assert message.message["X-News-Monitor-Kind"] == kind


def test_send_test_reports_a_channel_that_is_down(tmp_path: Path) -> None:
    from tests.support.receivers import free_port

    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "rules.yaml").write_text(
        f'channels:\n  hook: {{type: webhook, url: "http://127.0.0.1:{free_port()}/h"}}\n'
        "rules: []\n"
    )
    result = monitor(
        "send-test", "hook", "--config-dir", str(tmp_path), db=tmp_path / "m.db", timeout=60
    )
    assert result.returncode == 1
    said, failure = result.stderr.splitlines()[:2]
    assert said == f"configuration {tmp_path} (from --config-dir)"
    assert failure.startswith("hook: send failed: hook: could not reach the webhook")


def test_status_shows_a_failing_feed_and_since_when(
    setup: tuple[Path, Path, NewsSite],
) -> None:
    from tests.support.site import Resource

    config, db, site = setup
    site.put("/f.xml", Resource(b"down", "text/plain", status=503))
    assert monitor("run", "--once", "--config-dir", str(config), db=db, timeout=60).returncode == 0
    status = monitor("status", db=db, timeout=60).stdout
    assert "F: last success never, FAILING x1 since 20" in status
    assert "HTTP 503" in status


def test_sigterm_to_the_whole_group_stops_cleanly(setup: tuple[Path, Path, NewsSite]) -> None:
    """`systemctl stop` signals every process of the unit: the workers leave the stopping
    to the service, which stops them itself, and none is replaced on the way out."""
    config, db, _ = setup
    env = dict(os.environ, MONITOR_DB=str(db), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    alerts = db.parent / "alerts.jsonl"
    try:
        deadline = time.monotonic() + 30
        while not alerts.exists() and time.monotonic() < deadline:  # the workers did work
            time.sleep(0.1)
        assert alerts.exists(), "no alert within 30 s"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "service_stopped" in output
    assert "worker_replaced" not in output and "Traceback" not in output
