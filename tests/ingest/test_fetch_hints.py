"""What a poll costs (connections kept and reused, a pool sized by the caller), against real
servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from monitor.fetch import Fetcher
from tests.support.site import NewsSite, Resource

T = TypeVar("T")
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
NOW = 784111777.0  # DATE as a timestamp
RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with NewsSite() as s:
        yield s


def run(make: Callable[[Fetcher], Awaitable[T]], **kw: int) -> T:
    async def main() -> T:
        fetcher = Fetcher(**kw)
        try:
            return await make(fetcher)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


def raw(status: str, headers: dict[str, str], body: bytes = b"") -> Resource:
    """A response written byte for byte (the site adds no Date header of its own)."""
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return Resource(b"", "", raw=lambda: [head.encode("latin-1"), body])


class CountingServer:
    """HTTP/1.1 feed server on 127.0.0.1 that counts connections and the most open at once.
    Every request waits `delay` seconds, then gets 304 if it sent the ETag, else 200."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.connections = self.open = self.peak = self.requests = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CountingServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/feed"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                await asyncio.sleep(self.delay)
                common = b'ETag: "v1"\r\nCache-Control: max-age=90\r\n'
                if b'if-none-match: "v1"' in head.lower():
                    writer.write(b"HTTP/1.1 304 Not Modified\r\n" + common + b"\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\n" + common + b"Content-Type: application/rss+xml\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(RSS), RSS)
                    )
                await writer.drain()
        finally:
            self.open -= 1
            writer.close()


# ---------------------------------------------------------------- connections and the pool


def test_304_polls_reuse_one_connection() -> None:
    async def main() -> tuple[int, int, list[int]]:
        async with CountingServer() as server:
            fetcher = Fetcher()
            try:
                first = await fetcher.fetch_feed(server.url, timeout=5)
                statuses = [first.status]
                for _ in range(20):
                    result = await fetcher.fetch_feed(server.url, timeout=5, etag=first.etag)
                    statuses.append(result.status)
            finally:
                await fetcher.aclose()
            return server.connections, server.requests, statuses

    connections, requests, statuses = asyncio.run(main())
    assert statuses == [200] + [304] * 20
    assert requests == 21
    assert connections == 1


@pytest.mark.parametrize(("pool", "in_flight"), [(30, 30), (4, 12)])
def test_the_pool_opens_max_connections_at_once_and_no_more(pool: int, in_flight: int) -> None:
    """Sized to the polls in flight, every poll gets its own connection at once (none waits
    for one inside its deadline); more polls than the pool wait for a connection."""

    async def main() -> tuple[int, float]:
        async with CountingServer(delay=0.4) as server:
            fetcher = Fetcher(max_connections=pool)
            try:
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(fetcher.fetch_feed(server.url, timeout=20) for _ in range(in_flight))
                )
                elapsed = time.perf_counter() - started
            finally:
                await fetcher.aclose()
            assert all(r.status == 200 for r in results)
            return server.peak, elapsed

    peak, elapsed = asyncio.run(main())
    assert peak == min(pool, in_flight)
    rounds = -(-in_flight // pool)
    assert elapsed >= 0.4 * rounds - 0.05
    assert elapsed < 0.4 * rounds + 3.0
