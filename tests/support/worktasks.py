"""Functions for the worker-pool tests: importable by reference in a worker process."""

from __future__ import annotations

import os
import signal
import time

_setup: str | None = None


def configure(value: str) -> str:
    global _setup
    _setup = value
    return value


def refuse_setup(value: str) -> str:
    raise ValueError(f"cannot set up with {value!r}")


def setting() -> str | None:
    return _setup


def pid() -> int:
    return os.getpid()


def add(a: int, b: int) -> int:
    return a + b


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin_forever() -> None:
    while True:
        pass


def crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_lookup() -> None:
    raise LookupError("unknown encoding: rot13")
