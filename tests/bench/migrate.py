"""`monitor migrate-state` from SQLite to PostgreSQL on a state of a given size: time and memory.

    python tests/bench/migrate.py [--seen 20000] [--articles 5000] [--outbox 5000] [--to URL]

Builds a SQLite state in a temporary directory: --seen seen items, --articles articles (about
4 KB of text each, two matches, a 16-value sketch), --outbox alerts (real alert payloads, one
rule each; three in four sent, with one delivery attempt) and a feed per 100 seen items. The
state is written through the store's own transaction in bulk (building it through the
pipeline would take minutes and measure the pipeline). Then it runs `monitor migrate-state`
as a child process into --to (default: a throwaway PostgreSQL server started like the tests'
one, with fsync off: a server that syncs to disk takes longer) and prints the child's
per-table summary, its wall time and its peak memory (ru_maxrss from os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.models import Alert, AlertRule  # noqa: E402
from monitor.store import open_store  # noqa: E402
from monitor.store.sql import SqlStore  # noqa: E402
from tests.support.postgres import start_server  # noqa: E402

WORDS = ("the", "minister", "said", "talks", "with", "iran", "would", "resume", "next", "week")


def build(path: Path, seen: int, articles: int, outbox: int) -> None:
    store = open_store(path)
    assert isinstance(store, SqlStore)
    now = time.time()
    feeds = max(1, seen // 100)
    text = " ".join(WORDS[i % len(WORDS)] for i in range(700))  # about 4 KB
    with store._tx() as db:
        db.executemany(
            "INSERT INTO feeds (name, url, host, interval, next_check, etag, polls)"
            " VALUES (?, ?, ?, 300, ?, ?, 10)",
            [
                (f"feed-{f}", f"https://site{f}.example.org/rss", f"site{f}.example.org", now, "e")
                for f in range(feeds)
            ],
        )
        db.executemany(
            "INSERT INTO seen_items (feed, item_key, article_id, first_seen) VALUES (?, ?, ?, ?)",
            [(f"feed-{n % feeds}", f"guid:{n}", f"art-{n}", now) for n in range(seen)],
        )
        db.executemany(
            "INSERT INTO articles (id, feed, url, title, text, created) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (f"art-{n}", f"feed-{n % feeds}", f"https://x.org/{n}", f"Title {n}", text, now)
                for n in range(articles)
            ],
        )
        db.executemany(
            "INSERT INTO matches (article_id, rule, evidence, created) VALUES (?, ?, ?, ?)",
            [
                (f"art-{n}", rule, json.dumps({"spans": [[10, 20], [40, 52]]}), now)
                for n in range(articles)
                for rule in ("iran", "talks")
            ],
        )
        db.executemany(
            "INSERT INTO sketches (hash, article_id, created) VALUES (?, ?, ?)",
            [(n * 16 + k, f"art-{n}", now) for n in range(articles) for k in range(16)],
        )
        rows = []
        for n in range(outbox):
            alert = Alert(
                id=f"msg_{n:08d}",
                channel=("desk", "hook")[n % 2],
                article_id=f"art-{n % articles}",
                title=f"Title {n}",
                url=f"https://x.org/{n}",
                source=f"feed-{n % feeds}",
                published=datetime.fromtimestamp(now, UTC),
                rules=(AlertRule("iran"),),
                created=datetime.fromtimestamp(now, UTC),
            )
            status = "pending" if n % 4 == 0 else "sent"
            payload = json.dumps(alert.to_dict())
            rows.append((alert.id, alert.channel, alert.article_id, payload, status, now, now))
        db.executemany(
            "INSERT INTO outbox (id, channel, article_id, payload, status, created,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO alert_rules (alert_id, channel, rule, batched, created)"
            " VALUES (?, ?, 'iran', 0, ?)",
            [(r[0], r[1], now) for r in rows],
        )
        db.executemany(
            "INSERT INTO delivery_attempts (alert_id, channel, at, outcome, status_code)"
            " VALUES (?, ?, ?, 'sent', 200)",
            [(r[0], r[1], now) for r in rows if r[4] == "sent"],
        )
    store.close()


def migrate(source: str, target: str) -> None:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "monitor", "migrate-state", "--from", source, "--to", target],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    print(output, end="")
    print(
        f"exit {os.waitstatus_to_exitcode(status)}; wall {wall:.2f} s (process start included),"
        f" peak RSS {usage.ru_maxrss / 1024:.0f} MiB, CPU {usage.ru_utime + usage.ru_stime:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seen", type=int, default=20_000)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--outbox", type=int, default=5_000)
    parser.add_argument("--to", help="an empty PostgreSQL database (default: a throwaway one)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.seen, args.articles, args.outbox)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "monitor.db"
        started = time.perf_counter()
        # built by another process: a child's peak RSS counts the RSS of the process that
        # started it (Linux carries it over the exec), so this one stays small
        sizes = ["--seen", str(args.seen), "--articles", str(args.articles)]
        sizes += ["--outbox", str(args.outbox)]
        subprocess.run([sys.executable, __file__, "--build", str(path), *sizes], check=True)
        size = path.stat().st_size / 1e6
        print(f"built {path.name}: {size:.1f} MB in {time.perf_counter() - started:.1f} s")
        if args.to:
            migrate(f"sqlite:///{path}", args.to)
            return
        server = start_server()
        try:
            migrate(f"sqlite:///{path}", server.create_database())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
