"""Benchmark (not a test): the web inbox over 10,000 alerts and 100,000 stored articles.

Seeds a fresh database through the store (in bulk: one transaction per 5,000 rows, the same
tables and columns `record_item` writes), then times, in process through the ASGI app (no
network): the inbox page (first page, a deep one, a filtered one) and the search page (a
common word, two words, a phrase), median and p95 over --requests requests each; and the
store's search alone. Targets: inbox <= 200 ms, search <= 100 ms. Both backends, side by side:
SQLite in a temporary directory, PostgreSQL on a throwaway server started for the run
(tests/support/postgres.py `start_server`, stopped at the end) or the empty database --pg-url
names.

    .venv/bin/python tests/bench/inbox.py                  # SQLite and a throwaway PostgreSQL
    .venv/bin/python tests/bench/inbox.py --no-postgres    # SQLite only
    .venv/bin/python tests/bench/inbox.py --pg-url postgresql://…/empty_db
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from starlette.testclient import TestClient

from monitor.config import load_config
from monitor.store import open_store
from monitor.store.sql import SqlStore
from monitor.web.app import create_app
from monitor.web.settings import web_settings
from tests.support.postgres import start_server
from tests.web.conftest import make_config

WORDS = tuple(
    [
        "government",
        "minister",
        "oil",
        "sanctions",
        "border",
        "talks",
        "election",
        "protest",
        "market",
        "prices",
        "bank",
        "court",
        "ruling",
        "storm",
        "flood",
        "army",
        "ceasefire",
        "vienna",
        "tehran",
        "lisbon",
        "harbour",
        "strike",
        "union",
        "inflation",
        "budget",
        "energy",
        "gas",
        "pipeline",
        "drought",
        "harvest",
        "vaccine",
        "hospital",
        "school",
    ]
)
RULES = ("iran-watch", "oil-near-sanctions")


def seed(store: SqlStore, articles: int, alerts: int, now: float) -> None:
    rng = random.Random(14)
    batch = 5000
    for start in range(0, articles, batch):
        rows, seen, matches, outbox, alert_rules = [], [], [], [], []
        for n in range(start, min(articles, start + batch)):
            created = now - (articles - n) * 30
            text = " ".join(rng.choice(WORDS) for _ in range(300))
            title = " ".join(rng.choice(WORDS) for _ in range(8)).capitalize()
            feed = "Wire" if n % 2 else "Gulf"
            aid = f"art{n:07d}"
            rows.append(
                (aid, feed, f"https://wire.example/{n}", title, text, None, "en", 0, created)
            )
            seen.append((feed, f"k{n}", aid, created))
            if n >= articles - alerts:
                rule = RULES[n % 2]
                ev = {
                    "spans": [
                        {"field": "title", "start": 0, "end": 3, "text": title[:3], "operand": "x"}
                    ],
                    "distances": [],
                }
                matches.append((aid, rule, json.dumps(ev), created))
                payload = {
                    "id": f"msg{n}", "kind": "alert", "channel": "desk", "article_id": aid,
                    "title": title, "url": f"https://wire.example/{n}", "source": feed,
                    "sources": [feed], "published": None, "language": "en", "partial": False,
                    "created": "2026-01-01T00:00:00+00:00", "test": False,
                    "rules": [{"name": rule, "description": "", "terms": [], "snippets": [
                        {"field": "body", "text": text[:200], "highlights": [[0, 5]]}]}],
                }  # fmt: skip
                outbox.append((f"msg{n}", "desk", aid, json.dumps(payload), created, created))
                alert_rules.append((f"msg{n}", "desk", rule, 0, created))
        with store._tx() as db:
            db.executemany(
                "INSERT INTO articles (id, feed, url, title, text, published, language, partial,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.executemany(
                "INSERT INTO seen_items (feed, item_key, article_id, first_seen)"
                " VALUES (?, ?, ?, ?)",
                seen,
            )
            db.executemany(
                "INSERT INTO matches (article_id, rule, evidence, created) VALUES (?, ?, ?, ?)",
                matches,
            )
            db.executemany(
                "INSERT INTO outbox (id, channel, article_id, payload, created, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                outbox,
            )
            db.executemany(
                "INSERT INTO alert_rules (alert_id, channel, rule, batched, created)"
                " VALUES (?, ?, ?, ?, ?)",
                alert_rules,
            )


CASES = (
    ("inbox, first page", "/", 200),
    ("inbox, page 100", "/?page=100", 200),
    ("inbox, rule + feed filter", "/?rule=iran-watch&feed=Wire", 200),
    ("search, common word", "/search?q=oil", 100),
    ("search, two words", "/search?q=vienna+harbour", 100),
    ("search, phrase", '/search?q="oil+sanctions"', 100),
)
STORE_SEARCHES = ("oil", "vienna harbour", '"oil sanctions"')

Figures = dict[str, tuple[float, float]]  # label -> (median, p95) in ms


def timed(call: Callable[[], object], n: int) -> tuple[float, float]:
    call()  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def get(client: TestClient, path: str) -> Callable[[], object]:
    def call() -> object:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        return r

    return call


def run(kind: str, target: str, config_dir: Path, args: argparse.Namespace) -> Figures:
    """Seed `target` (an empty database) and time every case on it."""
    store = open_store(target)
    assert isinstance(store, SqlStore)
    try:
        t = time.perf_counter()
        seed(store, args.articles, args.alerts, time.time())
        took = time.perf_counter() - t
        print(
            f"# {kind}: seeded {args.articles} articles, {args.alerts} alerts in {took:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        client = TestClient(
            create_app(store, load_config(config_dir), web_settings("127.0.0.1:0")),
            base_url="http://127.0.0.1",
        )
        figures = {label: timed(get(client, path), args.requests) for label, path, _ in CASES}
        figures["store.inbox()"] = timed(store.inbox, args.requests)
        for q in STORE_SEARCHES:
            figures[f"store.search({q})"] = timed(lambda q=q: store.search(q), args.requests)
        return figures
    finally:
        store.close()


def print_table(results: dict[str, Figures]) -> None:
    kinds = list(results)
    targets = {label: ms for label, _, ms in CASES}
    head = f"{'case':28} {'target':>7}" + "".join(f" {k + ' median / p95':>28}" for k in kinds)
    print(head)
    for label in results[kinds[0]]:
        target = targets.get(label)
        row = f"{label:28} {f'{target} ms' if target else '':>7}"
        for k in kinds:
            med, p95 = results[k][label]
            over = " OVER" if target is not None and p95 > target else ""
            row += f" {f'{med:.1f} / {p95:.1f} ms{over}':>28}"
        print(row)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--pg-url", help="an empty PostgreSQL database to use (no server started)")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = ap.parse_args()
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        config_dir = make_config(base)
        if not args.no_sqlite:
            results["SQLite"] = run("SQLite", str(base / "m.db"), config_dir, args)
        if args.pg_url:
            results["PostgreSQL"] = run("PostgreSQL", args.pg_url, config_dir, args)
        elif not args.no_postgres:
            server = start_server()
            try:
                url = server.create_database()
                results["PostgreSQL"] = run("PostgreSQL", url, config_dir, args)
            finally:
                server.stop()
    print(
        f"# web inbox over {args.alerts} alerts, search over {args.articles} articles;"
        f" {args.requests} requests per case, in process through the ASGI app"
    )
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
