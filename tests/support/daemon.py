"""`monitor run` in a process of its own, its log in a file, for tests that need the real
daemon: reloads, several daemons on one database, what `status` says about them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def environment(db: str | Path) -> dict[str, str]:
    """The environment of a command run on `db` (a path or a PostgreSQL URL)."""
    return dict(os.environ, MONITOR_DB=str(db), PYTHONPATH=str(ROOT))


class Daemon:
    def __init__(self, config: Path, db: str | Path, log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
                env=environment(db),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 60, count: int = 1) -> None:
        """Until `text` is in the log `count` times; fails at once if the daemon exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= count:
                return
            assert self.proc.poll() is None, f"daemon exited:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"no {count} x {text!r} in the log:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM (unless it has exited) and its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)
