"""kill -9 at random points during a delivery burst, 20 times, with restarts.

Promise under test: at-least-once from the outbox, effectively-once through the webhook-id:
no alert is lost, a resend carries the same webhook-id, resends <= kills, an alert marked
sent is never sent again, and the database stays sound.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from tests.support.receivers import Reply, WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
ITEMS = 150
SEED = int(os.environ.get("CRASH_SEED", "20261121"))


def sent_ids(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM outbox WHERE status = 'sent'")}


def outbox_total(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def test_kill_minus_nine_during_delivery(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "monitor.db"
    entries = [
        FeedEntry(
            title=f"Report {n}",
            link=f"https://example.org/report/{n}",
            guid=f"report-{n}",
            summary=f"Officials in Tehran denied report {n} about al-Qaida leaders.",
        )
        for n in range(ITEMS)
    ]
    replies = [Reply(200, hang=0.01)] * (ITEMS * 3)
    with NewsSite() as site, WebhookReceiver(replies) as hook:
        site.add_feed("/feed.xml", rss_feed("Wire", entries))
        feed_url = f"{site.url}/feed.xml"
        (tmp_path / "feeds.yaml").write_text(
            "defaults: {interval: 1h, extract: false}\n"
            f'feeds:\n  - {{name: W, url: "{feed_url}"}}\n'
        )
        (tmp_path / "rules.yaml").write_text(
            textwrap.dedent(
                f"""\
                entities:
                  iran: {{aliases: [Iran, Tehran]}}
                  al-qaida: {{aliases: [al-Qaida]}}
                channels:
                  hook: {{type: webhook, url: "{hook.url}", timeout: 5s}}
                rules:
                  - {{name: r, query: '@iran NEAR/20 @al-qaida', channels: [hook]}}
                """
            )
        )
        env = dict(os.environ, MONITOR_DB=str(db), PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "monitor", "run", "--config-dir", str(tmp_path)]
        marked_sent: set[str] = set()
        resent_after_marked: list[str] = []
        kills = 0
        log = tmp_path / "daemon.log"

        def received() -> list[str]:
            return [r.headers["webhook-id"] for r in hook.requests]

        for _ in range(KILLS):
            before = len(hook.requests)
            with log.open("a") as out:
                daemon = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            wanted = before + rng.randint(1, 6)
            deadline = time.monotonic() + 60
            while len(hook.requests) < wanted and time.monotonic() < deadline:
                if daemon.poll() is not None:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))  # land anywhere: mid-send, mid-commit, idle
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=30)
            kills += 1
            assert daemon.returncode == -signal.SIGKILL, log.read_text()[-3000:]
            new = received()[before:]
            resent_after_marked += [i for i in new if i in marked_sent]
            marked_sent |= sent_ids(db)

        # a last, undisturbed run delivers whatever is left
        before = len(hook.requests)
        with log.open("a") as out:
            daemon = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(sent_ids(db)) < ITEMS:
            time.sleep(0.05)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        resent_after_marked += [i for i in received()[before:] if i in marked_sent]

        ids = received()
    counts = Counter(ids)
    resends = len(ids) - len(counts)
    print(f"kills={kills} alerts={ITEMS} requests={len(ids)} resends={resends} seed={SEED}")
    assert outbox_total(db) == ITEMS
    assert set(counts) == sent_ids(db) and len(counts) == ITEMS, "alerts lost"
    assert resends <= kills
    assert resent_after_marked == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
