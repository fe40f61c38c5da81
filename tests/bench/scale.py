"""Scale-out benchmark: polls/s and CPU per poll with 1, 2 and 3 daemons on one PostgreSQL.

    python tests/bench/scale.py [--shared ../shared] [--quick] [--daemons 1,2,3]
                                [--feeds N] [--interval S] [--per-host N] [--tree PATH]

One throwaway PostgreSQL server (tests/support/postgres.py `start_server`) for the whole run;
for each fleet size a fresh database, a fresh feed server with the same seed
(../shared/bench/ingest/feed_server.py through tests/bench/loadserver.py) and a webhook
receiver (tests/bench/hookrecorder.py), so every size gets the same feeds and the same load:
N feeds every S seconds (`--feeds`, `--interval`; the schedule pinned to S, `extract: false`,
the config of tests/bench/fleet.py, `polling: per_host` 2 as in bench-ingest unless
`--per-host`: every feed is on the one local host, so per_host caps what one daemon has in
flight), `frac` of them changed at the start of every interval.
The daemons start one after another (each once the previous one synced the schedule: daemons
starting at the same instant race in `sync_feeds`, see tests/store/test_scale_out.py), then
`warmup` seconds pass (first polls are full documents; then mostly 304s) and `measure` seconds
are measured.

Figures, all from outside the daemons, over the measured window:
- polls/s: answered feed requests (the server's /_stats 200s + 304s) per second, beside the
  offered rate (N / S); lateness p50/p99 from /_polls (tests/bench/lateness.py);
- CPU per poll: utime + stime of every daemon's process tree (workers included) and, apart, of
  the PostgreSQL server (the postmaster's tree: backends, and those that exited) and of the
  feed server, from /proc (tests/bench/proctree.py), divided by the polls;
- alerts received / items injected (hookrecorder); `deadlock detected` in the server's log;
  storage_failed lines in the daemons' logs (writes tried again later).
Ratios are to the 1-daemon row of the same run. Everything binds 127.0.0.1; daemons, feed
servers and the PostgreSQL server are stopped at the end (also on Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.fleet import (  # noqa: E402
    FleetDaemon,
    FleetFeedServer,
    cpu_seconds,
    postmaster_pid,
    write_config,
)
from tests.bench.hookrecorder import HookRecorder  # noqa: E402
from tests.bench.lateness import all_lateness, percentile  # noqa: E402
from tests.support.postgres import PostgresServer, start_server  # noqa: E402

LEASE = 60.0  # the default `polling: lease`
CHANNEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Load:
    feeds: int
    interval: float
    warmup: float
    measure: float
    frac: float = 0.01


FULL = Load(feeds=4000, interval=10.0, warmup=60.0, measure=90.0)
QUICK = Load(feeds=1000, interval=10.0, warmup=20.0, measure=15.0)


@dataclass
class Result:
    daemons: int
    polls: int
    window: float
    cpu_daemons: float  # seconds over the window
    cpu_pg: float
    cpu_server: float
    late_p50: float
    late_p99: float
    alerts: int
    injected: int
    deadlocks: int
    storage_failed: int

    @property
    def rate(self) -> float:
        return self.polls / self.window

    def per_poll_ms(self, cpu: float) -> float:
        return 1000 * cpu / self.polls if self.polls else math.nan


def run_fleet(
    size: int, load: Load, pg: PostgresServer, args: argparse.Namespace, directory: Path
) -> Result:
    monitor = args.tree.resolve() / ".venv/bin/monitor"
    url = pg.create_database()
    log_from = len(pg.log())
    budget = size * 30 + load.warmup + load.measure + 300
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(
                FleetFeedServer(
                    args.shared, load.feeds, log=directory / "feed_server.log", seed=load.feeds,
                    max_seconds=budget,
                )
            )  # fmt: skip
            hooks = stack.enter_context(HookRecorder())
            write_config(
                directory,
                server,
                hooks.url,
                interval=load.interval,
                lease=LEASE,
                channel_timeout=CHANNEL_TIMEOUT,
                per_host=args.per_host,
            )
            daemons = [FleetDaemon(monitor, directory, url, n) for n in range(size)]
            for d in daemons:
                stack.enter_context(d)
                d.wait_synced()
            time.sleep(load.warmup)
            pids = [d.pid for d in daemons]
            postmaster = postmaster_pid(pg)
            before, start = server.stats(), time.time()
            cpu0, pg0 = cpu_seconds(pids), cpu_seconds([postmaster])
            cycles = math.ceil(load.measure / load.interval)
            for c in range(cycles):
                server.cycle(load.frac)
                while time.time() < start + min(load.measure, (c + 1) * load.interval):
                    if not all(d.alive() for d in daemons):
                        raise RuntimeError(f"a daemon exited (see {directory}/daemon-*.log)")
                    time.sleep(0.5)
            cpu1, pg1, end = cpu_seconds(pids), cpu_seconds([postmaster]), time.time()
            after, polls = server.stats(), server.polls()
            drain = time.time() + 2 * load.interval + CHANNEL_TIMEOUT
            while time.time() < drain and len(hooks.snapshot()) < len(server.injected):
                time.sleep(0.5)
            late = all_lateness(polls, start, end, load.interval)
            answered = sum(after[k] - before[k] for k in ("s200", "s304"))
            return Result(
                daemons=size,
                polls=answered,
                window=end - start,
                cpu_daemons=cpu1 - cpu0,
                cpu_pg=pg1 - pg0,
                cpu_server=after["cpu_s"] - before["cpu_s"],
                late_p50=percentile(late, 50),
                late_p99=percentile(late, 99),
                alerts=len(set(hooks.snapshot()) & set(server.injected)),
                injected=len(server.injected),
                deadlocks=pg.log()[log_from:].count("deadlock detected"),
                storage_failed=sum(d.storage_failures() for d in daemons),
            )
    finally:
        pg.drop_database(url)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base and not math.isnan(base) else "-"


def print_table(results: list[Result], header: str) -> None:
    base = results[0]
    cells = [
        (
            "daemons", "polls/s", "ratio", "daemon CPU ms/poll", "ratio", "PG CPU ms/poll",
            "ratio", "feed server ms/poll", "daemons %", "PG %", "late p50/p99",
            "alerts/injected", "deadlocks", "storage_failed",
        )
    ]  # fmt: skip
    for r in results:
        cells.append(
            (
                str(r.daemons),
                f"{r.rate:.1f}",
                ratio(r.rate, base.rate),
                f"{r.per_poll_ms(r.cpu_daemons):.2f}",
                ratio(r.per_poll_ms(r.cpu_daemons), base.per_poll_ms(base.cpu_daemons)),
                f"{r.per_poll_ms(r.cpu_pg):.2f}",
                ratio(r.per_poll_ms(r.cpu_pg), base.per_poll_ms(base.cpu_pg)),
                f"{r.per_poll_ms(r.cpu_server):.2f}",
                f"{100 * r.cpu_daemons / r.window:.0f}",
                f"{100 * r.cpu_pg / r.window:.0f}",
                f"{r.late_p50:.1f}/{r.late_p99:.1f}s",
                f"{r.alerts}/{r.injected}",
                str(r.deadlocks),
                str(r.storage_failed),
            )
        )
    widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]))]
    print(header)
    for n, row in enumerate(cells):
        print(" | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--quick", action="store_true", help="1,000 feeds, about 2 minutes")
    ap.add_argument("--daemons", default="1,2,3", help="fleet sizes, the first is the baseline")
    ap.add_argument("--feeds", type=int, help="default: 4,000 (--quick: 1,000)")
    ap.add_argument("--interval", type=float, help="seconds; default 10")
    ap.add_argument(
        "--per-host",
        type=int,
        default=2,
        help="polling: per_host (default 2, as bench-ingest; every feed is on one host here)",
    )
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout whose .venv/bin/monitor runs")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    load = QUICK if args.quick else FULL
    if args.feeds:
        load = Load(args.feeds, load.interval, load.warmup, load.measure, load.frac)
    if args.interval:
        load = Load(load.feeds, args.interval, load.warmup, load.measure, load.frac)
    sizes = [int(n) for n in args.daemons.split(",")]
    rev = subprocess.run(
        ["git", "-C", str(args.tree), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    pg = start_server()
    results = []
    try:
        for size in sizes:
            print(
                f"# {size} daemon(s): {load.feeds} feeds every {load.interval:g}s, warm-up"
                f" {load.warmup:g}s, measured {load.measure:g}s ...",
                file=sys.stderr,
                flush=True,
            )
            directory = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
            try:
                results.append(run_fleet(size, load, pg, args, directory))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        pg.stop()
    mode = " QUICK" if args.quick else ""
    print_table(
        results,
        f"# scale-out benchmark{mode}: {args.tree.resolve()} @ {rev}; {load.feeds} feeds every"
        f" {load.interval:g}s (offered {load.feeds / load.interval:.0f} polls/s), {load.frac:.0%}"
        f" changed per interval, per_host {args.per_host}, measured {load.measure:g}s after"
        f" {load.warmup:g}s of warm-up;"
        f" ratios to {results[0].daemons} daemon(s); {os.cpu_count()} CPUs",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
