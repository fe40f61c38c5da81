"""Ingest benchmark: the real daemon against the shared feed server, measured from outside.

    python tests/bench/ingest.py [--shared ../shared] [--scenario NAME] [--quick]
                                 [--tree PATH] [--keep] [--scale-keys auto|on|off]

For each scenario it starts ../shared/bench/ingest/feed_server.py (N feeds from
../shared/corpus/feeds, 127.0.0.1, a free port), a webhook receiver (tests/bench/hookrecorder.py)
and `PATH/.venv/bin/monitor run --config-dir DIR --db DIR/monitor.db` on a config written into
a temp dir: N feeds on the server, `defaults: {interval, timeout: 20s, extract: true,
allow_networks: [127.0.0.0/8]}` (the injected items link to /article/i/v on the server) and
one rule, `"injected item"`, with a webhook channel to the receiver. --no-extract sets
`extract: false`, to tell the poll schedule apart from reading the corpus backlog's pages
(their hosts do not resolve here). With --scale-keys (auto:
when `monitor check` accepts them) the config also has `polling: {max_polls: 50, per_host: 2}`
and `max_age: 3d`, `min_interval` = `max_interval` = the interval, so adaptive intervals
(the server sends `Cache-Control: max-age=60`) do not move the schedule being measured.

Scenarios (FULL; --quick runs each with few feeds and short intervals, a minute or two):
  2000x60s   2,000 feeds every 60 s, 5% changed per cycle: 2 intervals of warm-up, then
             3 measured cycles; targets p99 lateness <= 10 s, CPU <= 30%, RSS <= 300 MB,
             change -> webhook latency p95 <= 70 s.
  10000x5m   10,000 feeds every 5 min, 5% per cycle, 1 interval of warm-up, 2 cycles.
  warmup     10,000 feeds (all 200s, every 5 min): time until every feed was polled once,
             from the daemon's start; target: all within two intervals.
  burst      4,000 feeds every 10 s (offered 400 polls/s), 1% changed per cycle, 90 s of
             warm-up, 4 cycles; target >= 300 polls/s (answered feed requests / window).

Figures, all from outside the daemon:
- polls: answered feed requests in the window (/_stats 200s + 304s), against N x window /
  interval; lateness from /_polls (see tests/bench/lateness.py: a feed that is not polled
  counts as late, it does not drop out).
- CPU: utime+stime of the daemon's process tree (workers included) and of the main process
  alone, from /proc, per measured cycle as % of one core (the row shows the worst cycle).
- RSS: VmRSS of the tree and of the main process, sampled every 0.5 s over the whole run.
- latency: from the bench's `/_cycle` call to the webhook receiving the item (matched by its
  title "Injected item V of feed I"); an item not received by the end counts as infinite.
  Which items a change injected comes from a replica of the server (tests/bench/loadserver.py).
- feed_failed: lines with event=feed_failed in the daemon's log (at the default level one per
  failure streak, its first failure), and the commonest error.
  A feed whose document cannot be parsed (one corpus file is JSON that is not a JSON Feed)
  backs off by design, so lateness leaves out feeds with a ParseError (counted beside the
  figure); feeds failing for any other reason (a timeout) stay in.

Everything binds 127.0.0.1; the daemon, its workers and the feed server are stopped at the
end (also on Ctrl-C), and the temp dir (config, database, logs) is removed unless --keep.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.hookrecorder import HookRecorder  # noqa: E402
from tests.bench.lateness import all_lateness, latencies, percentile  # noqa: E402
from tests.bench.loadserver import FeedServer  # noqa: E402
from tests.bench.proctree import Sample, Sampler, sample  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    feeds: int
    interval: float
    warmup: float  # seconds after the daemon's start before measuring
    cycles: int  # measured cycles; 0: the first-poll scenario
    frac: float = 0.05
    lateness_p99: float | None = 10.0
    cpu_pct: float | None = 30.0
    rss_mb: float | None = 300.0
    latency_p95: float | None = None
    polls_per_s: float | None = None


FULL = {
    s.name: s
    for s in (
        Scenario("2000x60s", 2000, 60, 120, 3, latency_p95=70.0),
        Scenario("10000x5m", 10000, 300, 300, 2),
        Scenario("warmup", 10000, 300, 0, 0),
        Scenario("burst", 4000, 10, 90, 4, frac=0.01, lateness_p99=None, cpu_pct=None,
                 polls_per_s=300.0),
    )
}  # fmt: skip
QUICK = {
    s.name: s
    for s in (
        Scenario("2000x60s", 150, 20, 25, 3, latency_p95=70.0),
        Scenario("10000x5m", 300, 30, 30, 2),
        Scenario("warmup", 500, 30, 0, 0),
        Scenario("burst", 300, 5, 20, 4, frac=0.01, lateness_p99=None, cpu_pct=None),
    )
}  # fmt: skip


@dataclass
class Row:
    figure: str
    measured: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    scenario: str
    rows: list[Row] = field(default_factory=list)

    def add(self, figure: str, measured: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(figure, measured, target, ok))


# --------------------------------------------------------------------------- config


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def feeds_yaml(server: FeedServer, interval: float, scale_keys: bool, extract: bool = True) -> str:
    every = _duration(interval)
    defaults = f"interval: {every}, timeout: 20s, extract: {str(extract).lower()}"
    defaults += ", allow_networks: [127.0.0.0/8]"
    lines = []
    if scale_keys:
        defaults += f", max_age: 3d, min_interval: {every}, max_interval: {every}"
        lines.append("polling: {max_polls: 50, per_host: 2}")
    lines += [f"defaults: {{{defaults}}}", "feeds:"]
    lines += [f'  - {{name: feed-{i}, url: "{server.url(i)}"}}' for i in range(server.feeds)]
    return "\n".join(lines) + "\n"


def rules_yaml(hook_url: str) -> str:
    return (
        f'channels:\n  bench: {{type: webhook, url: "{hook_url}"}}\n'
        "rules:\n  - name: injected\n    query: '\"injected item\"'\n    channels: [bench]\n"
    )


def monitor_check(monitor: Path, config_dir: Path) -> tuple[bool, str]:
    done = subprocess.run(
        [str(monitor), "check", "--config-dir", str(config_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0, done.stdout + done.stderr


def write_config(
    directory: Path, monitor: Path, server: FeedServer, hook: str, interval: float, args: Any
) -> bool:
    """Write feeds.yaml and rules.yaml; True when the scale keys are in them."""
    (directory / "rules.yaml").write_text(rules_yaml(hook))
    tried = {"on": [True], "off": [False], "auto": [True, False]}[args.scale_keys]
    output = ""
    for scale_keys in tried:
        text = feeds_yaml(server, interval, scale_keys, extract=not args.no_extract)
        (directory / "feeds.yaml").write_text(text)
        ok, output = monitor_check(monitor, directory)
        if ok:
            return scale_keys
    raise SystemExit(f"monitor check rejects the bench config:\n{output[-3000:]}")


# --------------------------------------------------------------------------- daemon


class Daemon:
    """`monitor run` in its own session; stdout and stderr to `log`."""

    def __init__(self, monitor: Path, directory: Path) -> None:
        self.log = directory / "daemon.log"
        self.command = [str(monitor), "run", "--config-dir", str(directory)]
        self.command += ["--db", str(directory / "monitor.db")]
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.env: dict[str, str] = {}  # set for this daemon on top of the environment

    def __enter__(self) -> Daemon:
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.update(self.env)
        with self.log.open("ab") as out:
            self.started = time.time()
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # its workers, if any are left
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


_ERROR = re.compile(r"""error=(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\S+))""")
_FEED = re.compile(r"feed='?feed-(\d+)")


def failed_polls(log: Path) -> tuple[int, str, set[int], set[int]]:
    """feed_failed lines in the daemon's log, the commonest error, the feeds that failed and
    those whose document could not be parsed (a ParseError)."""
    errors: collections.Counter[str] = collections.Counter()
    count, feeds, unparsable = 0, set(), set()
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if "event='feed_failed'" in line or "event=feed_failed" in line:
                count += 1
                found = _ERROR.search(line)
                text = next(g for g in found.groups() if g is not None) if found else ""
                errors[re.sub(r"https?://\S+", "URL", text)[:100]] += 1
                if feed := _FEED.search(line):
                    feeds.add(int(feed.group(1)))
                    if text.startswith("ParseError"):
                        unparsable.add(int(feed.group(1)))
    top = f"{errors.most_common(1)[0][0]} (x{errors.most_common(1)[0][1]})" if errors else ""
    return count, top, feeds, unparsable


# --------------------------------------------------------------------------- running


def sleep_until(deadline: float, daemon: Daemon) -> None:
    while (left := deadline - time.time()) > 0:
        if not daemon.alive():
            raise RuntimeError(f"the daemon exited early (see {daemon.log})")
        time.sleep(min(left, 1.0))


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else "-" if math.isnan(value) else f"{value:.1f}s"


def measure_steady(
    s: Scenario, server: FeedServer, hooks: HookRecorder, daemon: Daemon, report: Report
) -> None:
    sleep_until(daemon.started + s.warmup, daemon)
    before = server.stats()
    start = time.time()
    marks: list[Sample] = [sample(daemon.pid)]
    last_change = start
    for c in range(s.cycles):
        last_change, _ = server.cycle(s.frac)
        sleep_until(start + (c + 1) * s.interval, daemon)
        marks.append(sample(daemon.pid))
    end = time.time()
    polls = server.polls()
    after = server.stats()
    window = end - start

    answered = (after["s200"] + after["s304"]) - (before["s200"] + before["s304"])
    expected = s.feeds * window / s.interval
    report.add("polls done / expected", f"{answered} / {expected:.0f} ({answered / expected:.0%})")
    not_modified = after["s304"] - before["s304"]
    report.add("304 share", f"{not_modified / answered:.0%}" if answered else "-")
    rate = answered / window
    if s.polls_per_s is not None:
        report.add("polls/s", f"{rate:.0f}", f">= {s.polls_per_s:g}", rate >= s.polls_per_s)
    else:
        report.add("polls/s", f"{rate:.1f}")

    # a feed whose document cannot be parsed backs off by design: its gaps are not lateness
    unparsable = failed_polls(daemon.log)[3]
    healthy = [feed for i, feed in enumerate(polls) if i not in unparsable]
    late = all_lateness(healthy, start, end, s.interval)
    p = {q: percentile(late, q) for q in (50, 95, 99, 100)}
    shown = " / ".join(seconds(p[q]) for q in (50, 95, 99, 100))
    target, ok = "", None
    if s.lateness_p99 is not None:
        target, ok = f"p99 <= {s.lateness_p99:g}s", p[99] <= s.lateness_p99
    figure = f"lateness p50/p95/p99/max ({len(unparsable)} unparsable feeds left out)"
    report.add(figure, shown, target, ok)
    never = sum(1 for feed in polls if not any(start < t <= end for t in feed))
    report.add("feeds not polled in window", f"{never} of {s.feeds}")

    spans = [(b.at - a.at, b.cpu_tree - a.cpu_tree, b.cpu_main - a.cpu_main)
             for a, b in itertools.pairwise(marks)]  # fmt: skip
    cpu = [(100 * tree / span, 100 * main / span) for span, tree, main in spans]
    worst = max(c[0] for c in cpu)
    cycles = ", ".join(f"{c[0]:.0f}" for c in cpu)
    target, ok = "", None
    if s.cpu_pct is not None:
        target, ok = f"<= {s.cpu_pct:g}% every cycle", worst <= s.cpu_pct
    report.add("CPU % of a core, tree (per cycle)", f"{worst:.1f} worst ({cycles})", target, ok)
    report.add("CPU % of a core, main (worst)", f"{max(c[1] for c in cpu):.1f}")

    drain_until = min(last_change + max(2 * s.interval, 80.0), end + 90.0)
    while time.time() < drain_until and len(hooks.snapshot()) < len(server.injected):
        time.sleep(1.0)
    lat = latencies(server.injected, hooks.snapshot())
    arrived = sum(1 for x in lat if not math.isinf(x))
    report.add("alerts received / injected items", f"{arrived} / {len(lat)}")
    p50, p95 = percentile(lat, 50), percentile(lat, 95)
    target, ok = "", None
    if s.latency_p95 is not None:
        target, ok = f"p95 <= {s.latency_p95:g}s", p95 <= s.latency_p95
    report.add("change -> webhook p50 / p95", f"{seconds(p50)} / {seconds(p95)}", target, ok)


def measure_first_polls(s: Scenario, server: FeedServer, daemon: Daemon, report: Report) -> None:
    deadline = daemon.started + 2 * s.interval
    mark = sample(daemon.pid)
    polls: list[list[float]] = []
    while time.time() < deadline:
        time.sleep(2.0)
        stats = server.stats()
        if stats["s200"] + stats["s304"] >= s.feeds:
            polls = server.polls()
            if all(polls):
                break
    end = sample(daemon.pid)
    polls = polls or server.polls()
    done = [feed[0] for feed in polls if feed]
    all_polled = len(done) == s.feeds
    took = max(done) - daemon.started if all_polled else math.inf
    report.add("feeds polled once", f"{len(done)} of {s.feeds}")
    report.add(
        "time until every feed polled once",
        seconds(took),
        f"<= {seconds(2 * s.interval)} (two intervals)",
        all_polled and took <= 2 * s.interval,
    )
    if done:
        report.add("first poll .. last first poll", f"{seconds(min(done) - daemon.started)} .. "
                   f"{seconds(max(done) - daemon.started)}")  # fmt: skip
    span = end.at - mark.at
    report.add(
        "CPU % of a core, tree / main (average)",
        f"{100 * (end.cpu_tree - mark.cpu_tree) / span:.1f} / "
        f"{100 * (end.cpu_main - mark.cpu_main) / span:.1f}",
    )


def run_scenario(s: Scenario, args: argparse.Namespace) -> Report:
    report = Report(s.name)
    monitor = args.tree.resolve() / ".venv/bin/monitor"
    directory = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{s.name}-"))
    budget = s.warmup + (s.cycles + 2) * s.interval + 600
    try:
        with (
            FeedServer(
                args.shared, s.feeds, log=directory / "feed_server.log", seed=s.feeds,
                max_seconds=budget,
            ) as server,
            HookRecorder() as hooks,
        ):  # fmt: skip
            scale = write_config(directory, monitor, server, hooks.url, s.interval, args)
            report.add("scale keys in config", "yes" if scale else "no (not accepted)")
            with Daemon(monitor, directory) as daemon, Sampler(daemon.pid) as sampler:
                if s.cycles:
                    measure_steady(s, server, hooks, daemon, report)
                else:
                    measure_first_polls(s, server, daemon, report)
            ok = sampler.peak_tree_mb <= s.rss_mb if s.rss_mb is not None else None
            report.add(
                "peak RSS tree / main",
                f"{sampler.peak_tree_mb:.0f} / {sampler.peak_main_mb:.0f} MB",
                f"<= {s.rss_mb:g} MB" if s.rss_mb is not None else "",
                ok,
            )
            count, top, failing, _ = failed_polls(daemon.log)
            report.add("feed_failed log lines (feeds)", f"{count} ({len(failing)})")
            if top:
                report.add("commonest feed_failed error", top)
            stats = server.stats()
            report.add("article pages served", str(stats["articles"]))
            report.add("feed server CPU", f"{stats['cpu_s']:.1f}s")
            if not server.verify():
                report.add("replica of the feed server", "OUT OF STEP", "in step", False)
    finally:
        if args.keep:
            print(f"# kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return report


# --------------------------------------------------------------------------- table


def print_table(reports: list[Report], header: str) -> None:
    cells = [("scenario", "figure", "measured", "target", "")]
    for r in reports:
        for i, row in enumerate(r.rows):
            mark = "" if row.ok is None else "PASS" if row.ok else "FAIL"
            cells.append((r.scenario if i == 0 else "", row.figure, row.measured, row.target, mark))
    widths = [max(len(line[c]) for line in cells) for c in range(5)]
    print(header)
    for n, line in enumerate(cells):
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--scenario", action="append", choices=list(FULL), help="default: all")
    ap.add_argument("--quick", action="store_true", help="few feeds, short intervals")
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout whose .venv/bin/monitor runs")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, db, logs)")
    ap.add_argument("--scale-keys", choices=["auto", "on", "off"], default="auto")
    ap.add_argument(
        "--no-extract", action="store_true", help="extract: false (no article page fetches)"
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    table = QUICK if args.quick else FULL
    chosen = [table[name] for name in (args.scenario or list(table))]
    rev = subprocess.run(
        ["git", "-C", str(args.tree), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    reports = []
    for s in chosen:
        print(f"# {s.name}: {s.feeds} feeds every {s.interval:g}s ...", file=sys.stderr, flush=True)
        reports.append(run_scenario(s, args))
    mode = "QUICK (small N, short intervals; targets are for the full sizes)" if args.quick else ""
    mode += " extract: false" if args.no_extract else ""
    print_table(reports, f"# ingest benchmark: {args.tree.resolve()} @ {rev} {mode}".rstrip())
    return 0 if all(row.ok is not False for r in reports for row in r.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
