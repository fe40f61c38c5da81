"""`monitor web` beside a running `monitor run` on the same database, both real processes: an
alert the daemon sends appears in the inbox and in search, and an editor's feedback is written
while the daemon keeps polling and writing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import Daemon, environment
from tests.support.site import FeedEntry, NewsSite, rss_feed

RULES = """\
entities:
  iran: {aliases: [Iran, Tehran]}
channels:
  desk: {type: file, path: "%s"}
rules:
  - {name: iran-desk, query: '@iran', channels: [desk]}
"""
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Web:
    """`monitor web --listen 127.0.0.1:0`, its address read from what it says on stderr."""

    def __init__(self, config: Path, db: Path, log: Path) -> None:
        self.log = log
        command = [sys.executable, "-m", "monitor", "web", "--config-dir", str(config)]
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [*command, "--listen", "127.0.0.1:0"],
                env=environment(db),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not (found := re.search(r"web inbox on (http://\S+/)", log.read_text())):
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        self.url = found.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[NewsSite, Daemon, Web]]:
    with NewsSite() as site:
        first = FeedEntry("Tehran talks resume", "https://news.example/1", "1")
        url = site.add_feed("/f.xml", rss_feed("Wire", [first]))
        config = tmp_path / "etc"
        config.mkdir()
        (config / "feeds.yaml").write_text(
            "metrics: off\ndefaults: {interval: 1s, extract: false}\n"
            f'feeds:\n  - {{name: Wire, url: "{url}"}}\n'
        )
        (config / "rules.yaml").write_text(RULES % (tmp_path / "desk.jsonl"))
        db = tmp_path / "monitor.db"
        daemon = Daemon(config, db, tmp_path / "daemon.log")
        try:
            daemon.wait_for("event='alert_sent'")
            web = Web(config, db, tmp_path / "web.log")
            try:
                yield site, daemon, web
            finally:
                web.stop()
        finally:
            assert daemon.stop() == 0, daemon.output()


def until_shown(client: httpx.Client, path: str, text: str, daemon: Daemon) -> str:
    deadline = time.monotonic() + 60
    while True:
        page = client.get(path)
        assert page.status_code == 200, page.text
        if text in page.text:
            return page.text
        assert time.monotonic() < deadline, f"{text!r} never shown on {path}:\n{daemon.output()}"
        time.sleep(0.2)


def test_alerts_the_running_daemon_sends_appear_in_the_inbox_and_search(
    running: tuple[NewsSite, Daemon, Web],
) -> None:
    site, daemon, web = running
    with httpx.Client(base_url=web.url) as client:
        until_shown(client, "/", "Tehran talks resume", daemon)
        second = FeedEntry("Iran and the harbour of Vienna", "https://news.example/2", "2")
        first = FeedEntry("Tehran talks resume", "https://news.example/1", "1")
        site.add_feed("/f.xml", rss_feed("Wire", [second, first]))
        inbox = until_shown(client, "/", "Iran and the harbour of Vienna", daemon)
        assert inbox.index("Iran and the harbour of Vienna") < inbox.index("Tehran talks resume")
        found = client.get("/search", params={"q": "harbour"})
        assert found.status_code == 200
        assert "Iran and the harbour of Vienna" in found.text
        assert "Tehran talks resume" not in found.text


def test_feedback_is_written_while_the_daemon_writes(
    running: tuple[NewsSite, Daemon, Web],
) -> None:
    _site, daemon, web = running
    with httpx.Client(base_url=web.url) as client:
        inbox = until_shown(client, "/", "Tehran talks resume", daemon)
        article = re.search(r'name="article" value="([^"]+)"', inbox)
        token = CSRF.search(inbox)
        assert article and token, inbox
        answer = client.post(
            "/feedback",
            data={
                "csrf": token.group(1),
                "article": article.group(1),
                "rule": "iran-desk",
                "verdict": "useful",
                "next": "/rules",
            },
        )
        assert answer.status_code in (200, 303), answer.text
        rules = client.get("/rules").text
        assert "100%" in rules, rules
    status = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--json"],
        env=environment(daemon.log.parent / "monitor.db"),
        capture_output=True,
        text=True,
        check=True,
    )
    rules = {r["rule"]: r for r in json.loads(status.stdout)["rules"]}
    assert rules["iran-desk"]["feedback"] == {"useful": 1, "not_useful": 0, "precision": 1.0}
