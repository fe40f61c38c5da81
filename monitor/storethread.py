"""Store calls off the event loop, in order, on one thread of their own.

SQLite calls block: on a busy disk, and for as long as another process holds the write
lock (up to the busy timeout). Made from the event loop, such a wait would freeze polling,
sending and the systemd watchdog. Every call from async code goes through `StoreThread`
instead: one dedicated thread runs them one after another (the store serialises them
anyway), and the loop only awaits the result.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-store")

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
