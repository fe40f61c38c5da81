"""Several `monitor run` daemons on one PostgreSQL database, for the scale-out test and bench.

The config is the ingest bench's (tests/bench/ingest.py: N feeds on the shared feed server,
the schedule pinned to the interval, one rule matching the items the server injects), with a
short `polling: lease` so that a daemon killed with -9 loses its claims quickly, and a
webhook channel with its own timeout (an alert in flight is leased for the channel's timeout
plus `monitor.outbox.LEASE_MARGIN`). Each daemon writes its own log; `kill()` is a kill -9 of
the daemon and its worker processes. CPU is read from /proc (tests/bench/proctree.py): the
daemons' trees, and the PostgreSQL server's (the postmaster and its backends, whose time the
postmaster collects when they exit).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.bench.ingest import Daemon, failed_polls, feeds_yaml
from tests.bench.loadserver import FeedServer
from tests.bench.proctree import sample
from tests.support.postgres import PostgresServer

SCALE_POLLING = "polling: {max_polls: 50, per_host: 2}"
LIVE = re.compile(r"^daemons: (\d+) live", re.MULTILINE)


class FleetFeedServer(FeedServer):
    """The shared feed server; also closes the pipe it read the server's first line from."""

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        super().__exit__(*exc)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()


def write_config(
    directory: Path,
    server: FeedServer,
    hook_url: str,
    *,
    interval: float,
    lease: float,
    channel_timeout: float,
    extract: bool = False,
    per_host: int = 2,
) -> None:
    """feeds.yaml and rules.yaml in `directory` for every daemon of the fleet."""
    feeds = feeds_yaml(server, interval, scale_keys=True, extract=extract)
    if SCALE_POLLING not in feeds:
        raise RuntimeError("tests/bench/ingest.py writes its polling section differently now")
    leased = f"polling: {{max_polls: 50, per_host: {per_host}, lease: {lease:g}s}}"
    (directory / "feeds.yaml").write_text(feeds.replace(SCALE_POLLING, leased))
    (directory / "rules.yaml").write_text(
        f'channels:\n  hook: {{type: webhook, url: "{hook_url}", timeout: {channel_timeout:g}s}}\n'
        "rules:\n  - name: injected\n    query: '\"injected item\"'\n    channels: [hook]\n"
    )


class FleetDaemon(Daemon):
    """One daemon of the fleet: `monitor run` on the shared database, with its own log."""

    def __init__(self, monitor: Path, directory: Path, db_url: str, number: int) -> None:
        super().__init__(monitor, directory)
        self.number = number
        self.log = directory / f"daemon-{number}.log"
        self.command = [str(monitor), "run", "--config-dir", str(directory), "--db", db_url]
        # a node name of its own, as each daemon of a fleet on hosts of their own: a daemon
        # killed is then taken over when its lease runs out, not found dead by a sibling
        self.env = {"MONITOR_NODE": f"node-{number}"}

    def wait_synced(self, within: float = 60.0) -> None:
        """Wait until the daemon has brought the schedule in line with its feeds.yaml."""
        deadline = time.time() + within
        while "event='schedule_synced'" not in self.log.read_text(errors="replace"):
            if not self.alive():
                raise RuntimeError(f"daemon {self.number} exited (see {self.log})")
            if time.time() > deadline:
                raise RuntimeError(f"daemon {self.number} did not sync in {within:g}s")
            time.sleep(0.1)

    def kill(self) -> float:
        """kill -9 the daemon and its workers, at once; returns when."""
        assert self.proc is not None
        at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return at

    def unparsable(self) -> set[int]:
        """Feeds whose document this daemon could not parse (they back off by design)."""
        return failed_polls(self.log)[3]

    def storage_failures(self) -> int:
        """Lines with event=storage_failed in this daemon's log (writes tried again later)."""
        with self.log.open(encoding="utf-8", errors="replace") as lines:
            return sum(1 for line in lines if "event='storage_failed'" in line)


def live_daemons(monitor: Path, db_url: str) -> tuple[int, str]:
    """How many live daemons `monitor status` lists, and what it printed."""
    done = subprocess.run(
        [str(monitor), "status", "--db", db_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = LIVE.search(done.stdout)
    return (int(found.group(1)) if found else 0), done.stdout[:2000] + done.stderr[-2000:]


def postmaster_pid(server: PostgresServer) -> int:
    return int((server.datadir / "postmaster.pid").read_text().split()[0])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of these processes' trees, dead children included."""
    return sum(sample(pid).cpu_tree for pid in pids)
