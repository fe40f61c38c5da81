"""Two real daemons on one database, on every backend: they share the feed, the alert goes out
once, `monitor status` lists both, and they warn when their configurations differ."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, environment
from tests.support.site import FeedEntry, NewsSite, rss_feed

FEEDS = """\
polling: {lease: 2s}
defaults: {interval: 2s, extract: false}
feeds:
  - {name: Wire, url: "%s"}
"""
RULES = """\
entities:
  iran: {aliases: [Iran, Tehran]}
channels:
  out: {type: file, path: "%s"}
rules:
  - {name: %s, query: '@iran', channels: [out]}
"""


def configure(folder: Path, feed_url: str, out: Path, rule: str) -> Path:
    folder.mkdir()
    (folder / "feeds.yaml").write_text(FEEDS % feed_url)
    (folder / "rules.yaml").write_text(RULES % (out, rule))
    return folder


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as site:
        yield site


def status(db: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "status"],
        env=environment(db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_daemons_share_a_database_alert_once_and_warn_when_configs_differ(
    db_url: str, tmp_path: Path, site: NewsSite
) -> None:
    entries = [FeedEntry(f"Tehran report {n}", f"https://x.org/{n}", f"g{n}") for n in range(5)]
    url = site.add_feed("/wire.xml", rss_feed("Wire", entries))
    out = tmp_path / "alerts.jsonl"
    same = configure(tmp_path / "a", url, out, "iran")
    other = configure(tmp_path / "b", url, out, "iran-too")
    first = Daemon(same, db_url, tmp_path / "a.log")
    second = Daemon(other, db_url, tmp_path / "b.log")
    try:
        first.wait_for("event='service_started'")
        second.wait_for("event='service_started'")
        first.wait_for("event='config_differs'", timeout=30)
        second.wait_for("event='config_differs'", timeout=30)
        shown = status(db_url)
        assert "daemons: 2 live, CONFIGURATIONS DIFFER" in shown
        assert f"pid={first.proc.pid} " in shown and f"pid={second.proc.pid} " in shown
        # several polls by the two daemons (interval 2 s): five items, five alerts, once each
        deadline = time.monotonic() + 60
        while len(site.requests_for("/wire.xml")) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        entries.append(FeedEntry("Tehran late report", "https://x.org/late", "late"))
        site.add_feed("/wire.xml", rss_feed("Wire", entries))
        while time.monotonic() < deadline and (
            not out.exists() or len(out.read_text().splitlines()) < 6
        ):
            time.sleep(0.2)
    finally:
        codes = (first.stop(), second.stop())
    assert codes == (0, 0), first.output()[-2000:] + second.output()[-2000:]
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    links = sorted(a["article"]["url"] for a in alerts)
    assert links == sorted({e.link for e in entries}), links
    assert "daemons: none running" in status(db_url)
