"""CPU time and resident memory of a process and its whole tree, read from /proc.

CPU of the tree = for every live process in it, utime + stime + cutime + cstime (the last two
hold the time of children it has reaped, so a worker that was replaced still counts).
Memory = VmRSS, summed over the tree. `Sampler` reads both every 0.5 s in a thread and keeps
the peaks; `sample()` reads them once, for the CPU at cycle boundaries.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    at: float  # time.time()
    cpu_tree: float  # seconds
    cpu_main: float
    rss_tree_mb: float
    rss_main_mb: float


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on: index = field - 3


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _cpu(pid: int, *, reaped: bool) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (fields 16, 17)
    return ticks / TICK


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample(root: int) -> Sample:
    pids = _descendants(root)
    return Sample(
        at=time.time(),
        cpu_tree=sum(_cpu(p, reaped=True) for p in pids),
        cpu_main=_cpu(root, reaped=False),
        rss_tree_mb=sum(_rss_mb(p) for p in pids),
        rss_main_mb=_rss_mb(root),
    )


class Sampler:
    """Samples `root`'s tree every `every` seconds until stopped; keeps the peak RSS."""

    def __init__(self, root: int, every: float = 0.5) -> None:
        self.root = root
        self.every = every
        self.peak_tree_mb = 0.0
        self.peak_main_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proctree-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            s = sample(self.root)
            self.peak_tree_mb = max(self.peak_tree_mb, s.rss_tree_mb)
            self.peak_main_mb = max(self.peak_main_mb, s.rss_main_mb)
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
