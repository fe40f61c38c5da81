"""Benchmark (not a test): the web inbox over 10,000 alerts and 100,000 stored articles.

Seeds a fresh database through the store (in bulk: one transaction per 5,000 rows, the same
tables and columns `record_item` writes), then times, in process through the ASGI app (no
network): the inbox page (first page and a filtered one) and the search page, median and p95
over --requests requests each; and the store's search alone. Targets: inbox <= 200 ms,
search <= 100 ms.

    .venv/bin/python tests/bench/inbox.py                       # SQLite in a temporary dir
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from starlette.testclient import TestClient

from monitor.config import load_config
from monitor.store import open_store
from monitor.store.sql import SqlStore
from monitor.web.app import create_app
from monitor.web.settings import web_settings
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


def timed(client: TestClient, path: str, n: int) -> tuple[float, float]:
    client.get(path)  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--pg-url", help="an empty PostgreSQL database to use instead of SQLite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        config_dir = make_config(base)
        target = args.pg_url or str(base / "m.db")
        store = open_store(target)
        assert isinstance(store, SqlStore)
        now = time.time()
        t = time.perf_counter()
        seed(store, args.articles, args.alerts, now)
        took = time.perf_counter() - t
        kind = "PostgreSQL" if args.pg_url else "SQLite"
        print(f"seeded {args.articles} articles, {args.alerts} alerts in {took:.1f} s ({kind})")
        client = TestClient(
            create_app(store, load_config(config_dir), web_settings("127.0.0.1:0")),
            base_url="http://127.0.0.1",
        )
        for label, path, target_ms in (
            ("inbox, first page", "/", 200),
            ("inbox, page 100", "/?page=100", 200),
            ("inbox, rule + feed filter", "/?rule=iran-watch&feed=Wire", 200),
            ("search, common word", "/search?q=oil", 100),
            ("search, two words", "/search?q=vienna+harbour", 100),
            ("search, phrase", '/search?q="oil+sanctions"', 100),
        ):
            med, p95 = timed(client, path, args.requests)
            ok = "ok" if p95 <= target_ms else "OVER"
            print(
                f"{label:28} median {med:7.1f} ms  p95 {p95:7.1f} ms  (target {target_ms} ms: {ok})"
            )
        for q in ("oil", "vienna harbour", '"oil sanctions"'):
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                store.search(q)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            print(f"store.search({q!r}):{'':10} median {statistics.median(times):7.1f} ms"
                  f"  p95 {times[int(0.95 * (len(times) - 1))]:7.1f} ms")  # fmt: skip
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
