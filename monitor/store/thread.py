"""Store calls off the event loop, on threads of their own (the store's one adapter).

Store calls block: on a busy disk, for as long as another process holds SQLite's write lock
(up to the busy timeout), or while PostgreSQL waits on a row lock or the network. Made from
the event loop, such a wait would freeze polling, sending and the systemd watchdog. Every call
from async code goes through `StoreThread` instead: `workers` dedicated threads run them (one
for SQLite, whose single connection serialises calls anyway, so they run in order; one per
pooled connection for PostgreSQL), and the loop only awaits the result.
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
    def __init__(self, workers: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="monitor-store")

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
