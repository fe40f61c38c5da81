"""Run a command and measure it: wall time, and the peak memory of its whole process tree.

The peak is sampled from /proc every 50 ms over the process and all its descendants (the
worker processes and their fork server included), summing resident set sizes, so a memory
bomb in any of them shows. A sample can miss a spike shorter than the interval; the
figures are for bounds that are far apart (hundreds of MB against GB).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> float:
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(tree.get(pid, ()))
    return total / 1024


def run_measured(
    command: list[str], *, env: dict[str, str], timeout: float, cwd: Path | None = None
) -> Measured:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        proc.kill()
        stdout, stderr = proc.communicate()
        message = f"{command[2:4]} still running after {timeout}s:\n{stdout[-3000:]}"
        raise AssertionError(message) from e
    finally:
        done.set()
        sampler.join()
    return Measured(proc.returncode, stdout, stderr, time.perf_counter() - started, peak)


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env.update(extra)
    return env
