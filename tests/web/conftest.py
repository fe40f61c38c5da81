"""The web inbox under test: a configuration, a database seeded through the store API (real
rules matched by the real matcher, not the daemon), and `monitor web` as a real server on
127.0.0.1 port 0 in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.match import Matcher
from monitor.models import Document, Item, Match
from monitor.pipeline import build_alerts
from monitor.store import Store, open_store

RULES = textwrap.dedent(
    """\
    entities:
      iran: {aliases: [Iran, Tehran]}
    channels:
      desk: {type: file, path: "%s/desk.jsonl"}
      hook: {type: file, path: "%s/hook.jsonl"}
    rules:
      - {name: iran-watch, query: '@iran', channels: [desk, hook]}
      - {name: oil-near-sanctions, query: 'oil NEAR/5 sanctions', channels: [desk]}
    """
)
FEEDS = textwrap.dedent(
    """\
    defaults: {interval: 1h, extract: false}
    feeds:
      - {name: Wire, url: "https://wire.example/feed.xml", tags: [world]}
      - {name: Gulf, url: "https://gulf.example/feed.xml", tags: [region]}
    """
)
HOSTILE_TITLE = (
    "<script>window.pwned=1;alert(1)</script> Tehran \u202egnp.exe"
    ' <img src=x onerror="window.pwned=1">'
)
HOSTILE_TEXT = (
    "Tehran said <script>window.pwned=2;alert(2)</script> nothing. "
    '<img src=x onerror="window.pwned=3;alert(3)"> <a href="javascript:window.pwned=4">x</a>'
    ' \u202eevil\u202c \u2066isolate\u2069 <svg onload="window.pwned=5"></svg>'
)


@dataclass
class Inbox:
    url: str
    config: Path
    db: str
    proc: subprocess.Popen[str]


def evidence(m: Match) -> dict[str, Any]:
    """As the pipeline stores it (pipeline._evidence)."""
    return {
        "spans": [
            {"field": s.field, "start": s.start, "end": s.end, "text": s.text, "operand": s.operand}
            for s in m.spans
        ],
        "distances": list(m.distances),
    }


def seed(
    store: Store, config_dir: Path, articles: list[tuple[str, str, str, str | None]], now: float
) -> None:
    """(feed, title, text, url) articles, matched by the configuration's rules and recorded
    one minute apart, the last one newest."""
    config = load_config(config_dir)
    matcher = Matcher.build(config.rules, config.entities)
    rules = {r.name: r for r in config.rules}
    for n, (feed, title, text, url) in enumerate(articles):
        at = now - (len(articles) - n) * 60
        doc = Document(id=f"art{n}", title=title, text=text, url=url, feed=feed)
        item = Item(key=f"k{n}", feed=feed, title=title, link=url)
        matches = matcher.match(doc)
        alerts = build_alerts(doc, item, list(matches), rules, now=at)
        store.record_item(item, doc, matches, [evidence(m) for m in matches], alerts, now=at)


STORIES = [
    (
        "Gulf",
        "Oil exports face new sanctions",
        "Officials said oil exports would face tough sanctions soon.",
        "https://gulf.example/1",
    ),
    (
        "Wire",
        "Tehran talks resume",
        "Diplomats met in Vienna as Tehran talks resumed on Monday.",
        "https://wire.example/2",
    ),
    (
        "Wire",
        "Weather in Lisbon",
        "Sunny days ahead for Lisbon, no news about anything.",
        "https://wire.example/3",
    ),
    ("Wire", HOSTILE_TITLE, HOSTILE_TEXT, "javascript:window.pwned=6"),
]


def start(
    config: Path, db: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--config-dir", str(config), "--db", db, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"web inbox on (http://\S+/)", line)
        if m:  # keep reading its log, so that a full pipe never blocks the server
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    proc.wait()
    raise AssertionError("monitor web did not start:\n" + "".join(seen))


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def make_config(base: Path) -> Path:
    config = base / "etc"
    config.mkdir()
    (config / "feeds.yaml").write_text(FEEDS)
    (config / "rules.yaml").write_text(RULES % (base, base))
    return config


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("web")
    config = make_config(base)
    db = str(base / "m.db")
    store = open_store(db)
    try:
        seed(store, config, STORIES, time.time())
        (row,) = store.claim_next("hook", now=time.time(), lease=60)
        store.mark_sent([row.id], now=time.time(), status_code=200)
    finally:
        store.close()
    return config, db


@pytest.fixture(scope="module")
def inbox(seeded: tuple[Path, str]) -> Iterator[Inbox]:
    config, db = seeded
    proc, url = start(config, db, "--listen", "127.0.0.1:0")
    try:
        yield Inbox(url, config, db, proc)
    finally:
        stop(proc)
