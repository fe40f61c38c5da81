"""Feed-parse CPU per corpus feed: `monitor.parse.parse_feed` on every feed of the corpus copy.

    python tests/bench/feed_parse.py [--rounds 5] [--raw]

For each of the 60 documents in tests/ingest/data/feeds (59 feeds and one JSON document
that is not a feed, timed all the same), parses it `--rounds` times in this
process and keeps the smallest CPU time (time.process_time: this process only, so other load
on a shared machine moves it less than wall time). Prints the mean, median, p95 and max over
them, and the five slowest. `--raw` times feedparser.parse alone on the same bytes with
the options parse_feed passes it, to tell feedparser's share from ours; `--defaults` times
feedparser.parse with its defaults (sanitizer and URI resolver on), for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import feedparser

from monitor.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[1] / "ingest" / "data" / "feeds"
SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf", ".json"})


def corpus() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in SUFFIXES)


def cpu(run: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def ours(body: bytes, url: str) -> Callable[[], object]:
    def run() -> object:
        try:
            return parse_feed(body, feed="bench", url=url)
        except Exception as e:  # the corpus's one non-feed raises ParseError: timed all the same
            return e

    return run


def raw(body: bytes, url: str) -> Callable[[], object]:
    def run() -> object:
        return feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)

    return run


def defaults(body: bytes, url: str) -> Callable[[], object]:
    def run() -> object:
        return feedparser.parse(body)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--raw", action="store_true", help="time feedparser.parse alone")
    which.add_argument("--defaults", action="store_true", help="feedparser with its defaults")
    args = parser.parse_args()
    make = raw if args.raw else defaults if args.defaults else ours
    times: dict[str, float] = {}
    for path in corpus():
        name = str(path.relative_to(CORPUS))
        times[name] = cpu(make(path.read_bytes(), f"https://example.org/{name}"), args.rounds)
    values = sorted(times.values())
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    what = (
        "feedparser.parse"
        if args.raw
        else "feedparser.parse(defaults)"
        if args.defaults
        else "parse_feed"
    )
    print(
        f"{what}: {len(values)} documents, CPU per document (best of {args.rounds}): "
        f"mean {statistics.mean(values) * 1e3:.1f} ms, median {statistics.median(values) * 1e3:.1f}"
        f" ms, p95 {p95 * 1e3:.1f} ms, max {values[-1] * 1e3:.1f} ms"
    )
    for name, seconds in sorted(times.items(), key=lambda t: -t[1])[:5]:
        print(f"  {seconds * 1e3:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
