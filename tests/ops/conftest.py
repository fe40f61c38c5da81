"""A desk for the operations tests: one feed on a local site, one rule, one webhook channel, on
each backend, with the real CLI (`Desk.monitor`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.receivers import WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]


def run_monitor(config: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitor ARGS` as an operator runs it, on this configuration and database."""
    env = dict(os.environ, MONITOR_DB=db, PYTHONPATH=str(ROOT))
    env["MONITOR_CONFIG_DIR"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Desk:
    config: Path
    db: str
    site: NewsSite
    hook: WebhookReceiver
    entries: list[FeedEntry]

    def monitor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_monitor(self.config, self.db, *args)

    def run_once(self) -> None:
        result = self.monitor("run", "--once", "--config-dir", str(self.config))
        assert result.returncode == 0, result.stdout + result.stderr

    def publish(self, title: str, guid: str) -> None:
        self.entries.append(FeedEntry(title, f"https://x.org/{guid}", guid))
        self.site.add_feed("/wire.xml", rss_feed("Wire", self.entries))

    def received(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.hook.requests]


def write_desk(
    config: Path, feed_url: str, hook_url: str, *, rules: str = "", metrics: str = ""
) -> None:
    """The desk's configuration: the Wire feed polled hourly (pages not fetched), `@iran` and
    the rule `iran-watch` alerting the webhook at `hook_url`, then `rules` (more rule lines),
    and `metrics:` when given."""
    (config / "feeds.yaml").write_text(
        (f"metrics: {metrics}\n" if metrics else "")
        + "defaults: {interval: 1h, extract: false}\n"
        + f'feeds:\n  - {{name: Wire, url: "{feed_url}"}}\n'
    )
    (config / "rules.yaml").write_text(
        "entities:\n  iran: {aliases: [Iran, Tehran]}\n"
        f'channels:\n  hook: {{type: webhook, url: "{hook_url}", timeout: 5s}}\n'
        "rules:\n  - {name: iran-watch, query: '@iran', channels: [hook]}\n" + rules
    )


@pytest.fixture
def desk(tmp_path: Path, db_url: str) -> Iterator[Desk]:
    with NewsSite() as site, WebhookReceiver() as hook:
        config = tmp_path / "etc"
        config.mkdir()
        write_desk(config, f"{site.url}/wire.xml", hook.url)
        room = Desk(config, db_url, site, hook, [])
        room.publish("Tehran talks resume", "g1")
        yield room


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The operations tests drive the CLI and the daemon in subprocesses, seconds a step: they
    run on SQLite. The store queries under them run on both backends in tests/store (and the
    daemon on PostgreSQL in tests/core/test_end_to_end.py and tests/store/test_daemons.py)."""
    return str(tmp_path / "m.db")
