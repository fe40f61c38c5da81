"""Burst of mostly-304 feed polls through a tree's `Fetcher.fetch_feed`: polls/s and CPU per poll.

    python tests/bench/polls.py [--tree PATH] [--feeds 3000] [--rounds 2] [--changed 0.05]
                                [--concurrency 50 --concurrency 2] [--base URL]

Starts the shared feed server (--feed-server, --corpus; by default ../shared/bench/ingest/
feed_server.py and ../shared/corpus/feeds beside this repository) on a free port of 127.0.0.1,
unless --base names one already running. A child process whose `monitor` package comes from
--tree (default: this tree; so the same run measures main's code and a branch's) makes one
Fetcher, polls every feed once to learn its validators (not measured), then for each
--concurrency value: changes --changed of the feeds (the server's /_cycle), and polls every
feed --rounds times with If-None-Match, at most that many polls in flight. It prints, per
concurrency: polls, their outcomes (304 / 200 / failed), polls per second of wall time, and
the child's CPU milliseconds per poll (time.process_time: user and system CPU of the client
alone; the server is another process). The machine's other load shows in the figures: run it
two or three times and read the best.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"

CHILD = r"""
import asyncio, inspect, json, sys, time, urllib.request
import monitor.fetch as fetch

base, feeds, rounds, changed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
levels = [int(c) for c in sys.argv[5].split(",")]
urls = [f"{base}/feed/{i}" for i in range(feeds)]


async def poll_all(fetcher, etags, limit, count):
    gate = asyncio.Semaphore(limit)
    outcomes = {"304": 0, "200": 0, "failed": 0}

    async def one(url):
        async with gate:
            try:
                result = await fetcher.fetch_feed(url, timeout=20, etag=etags.get(url))
            except fetch.FetchError:
                outcomes["failed"] += 1
                return
            outcomes[str(result.status) if result.status in (200, 304) else "failed"] += 1
            if result.etag:
                etags[url] = result.etag

    await asyncio.gather(*(one(urls[i % feeds]) for i in range(count)))
    return outcomes


async def main():
    kwargs = {}
    if "max_connections" in inspect.signature(fetch.Fetcher).parameters:
        kwargs["max_connections"] = max(levels)
    fetcher = fetch.Fetcher(**kwargs)
    etags = {}
    await poll_all(fetcher, etags, max(levels), feeds)  # validators; imports; not measured
    for limit in levels:
        with urllib.request.urlopen(f"{base}/_cycle?frac={changed}") as r:
            r.read()
        count = feeds * rounds
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = await poll_all(fetcher, etags, limit, count)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"concurrency": limit, "polls": count, "outcomes": outcomes,
                          "per_s": count / wall, "cpu_ms": 1000 * cpu / count,
                          "module": fetch.__file__}), flush=True)
    await fetcher.aclose()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(script: Path, corpus: Path, feeds: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(corpus), "--feeds", str(feeds), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stats", timeout=2) as r:
                r.read()
            return proc, base
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("the feed server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--feeds", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2, help="polls of each feed per level")
    parser.add_argument("--changed", type=float, default=0.05, help="fraction changed per level")
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--base", help="a feed server already running, e.g. http://127.0.0.1:8808")
    parser.add_argument(
        "--feed-server", type=Path, default=SHARED / "bench" / "ingest" / "feed_server.py"
    )
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus" / "feeds")
    args = parser.parse_args()
    levels = args.concurrency or [50, 2]
    server = None
    base = args.base
    if base is None:
        server, base = start_server(args.feed_server, args.corpus, args.feeds)
    try:
        env = dict(os.environ, PYTHONPATH=str(args.tree.resolve()))
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                base.rstrip("/"),
                str(args.feeds),
                str(args.rounds),
                str(args.changed),
                ",".join(map(str, levels)),
            ],
            cwd=args.tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    if child.returncode != 0:
        raise SystemExit(child.stderr[-2000:])
    print(
        f"{'concurrency':>11} {'polls':>6} {'304':>6} {'200':>5} {'failed':>6} {'polls/s':>8}"
        f" {'CPU ms/poll':>11}"
    )
    for line in child.stdout.splitlines():
        row = json.loads(line)
        o = row["outcomes"]
        print(
            f"{row['concurrency']:>11} {row['polls']:>6} {o['304']:>6} {o['200']:>5}"
            f" {o['failed']:>6} {row['per_s']:>8.0f} {row['cpu_ms']:>11.3f}"
        )
    print(f"(monitor from {Path(json.loads(child.stdout.splitlines()[-1])['module']).parent})")


if __name__ == "__main__":
    main()
