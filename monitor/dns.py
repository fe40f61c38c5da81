"""Looking up the hosts of article links: cached, one lookup per host at a time, off the
event loop on threads of its own.

A backlog of a thousand items links to a few dozen hosts, and a name server can be slow or
drop queries under load (glibc then waits its 5 s timeout). Unshared, those lookups filled
asyncio's default executor, the one the HTTP client uses to connect, so feed polls waited
behind article links. Here a host is looked up once while a lookup of it is under way,
its answer (or failure) is kept for `POSITIVE_TTL` (`NEGATIVE_TTL`) seconds, and the
lookups run on `THREADS` threads of their own. The cache is bounded (`MAX_ENTRIES`, oldest
first out). A lookup not answered within `LOOKUP_TIMEOUT` fails (the thread finishes it in
the background).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

POSITIVE_TTL = 60.0
NEGATIVE_TTL = 30.0
MAX_ENTRIES = 10_000
THREADS = 8
LOOKUP_TIMEOUT = 10.0

Lookup = Callable[[str, int], list[str]]


def system_lookup(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (as text), through the system's resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CachingResolver:
    def __init__(
        self, lookup: Lookup = system_lookup, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="monitor-dns")
        self._cache: OrderedDict[tuple[str, int], tuple[float, list[str] | OSError]] = OrderedDict()
        self._pending: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        """The addresses of `host`; OSError when it does not resolve."""
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None:
            expires, answer = cached
            if expires > self._clock():
                if isinstance(answer, OSError):
                    raise answer
                return list(answer)
            del self._cache[key]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._resolve(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return list(await asyncio.shield(pending))

    async def _resolve(self, key: tuple[str, int]) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                answer = await loop.run_in_executor(self._executor, self._lookup, *key)
        except TimeoutError as e:
            error = OSError(f"no answer from the name server within {LOOKUP_TIMEOUT:g}s")
            self._remember(key, error, NEGATIVE_TTL)
            raise error from e
        except OSError as e:
            self._remember(key, e, NEGATIVE_TTL)
            raise
        self._remember(key, answer, POSITIVE_TTL)
        return answer

    def _remember(self, key: tuple[str, int], answer: list[str] | OSError, ttl: float) -> None:
        self._cache[key] = (self._clock() + ttl, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
