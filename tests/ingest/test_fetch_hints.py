"""What a poll learns beyond the body (max-age, permanent moves, Retry-After) and what it costs
(connections kept, reused and dropped when the server closed them, a pool sized by the
caller), against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import TypeVar

import pytest

from monitor.errors import FetchError
from monitor.fetch import Fetcher
from monitor.freshness import MAX_LIFETIME, MAX_RETRY_AFTER, freshness_lifetime, retry_delay
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

    def __init__(self, delay: float = 0.0, *, hang_up: bool = False) -> None:
        self.delay = delay
        self.hang_up = hang_up  # close each connection after one response, without warning
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
                if self.hang_up:
                    return
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


def test_a_kept_connection_the_server_closed_is_not_reused() -> None:
    """The pool notices that an idle connection was closed by the server (it is readable:
    end of stream) and opens another rather than send a request into it."""

    async def main() -> tuple[int, list[int]]:
        async with CountingServer(hang_up=True) as server:
            fetcher = Fetcher()
            try:
                statuses = []
                for _ in range(3):
                    statuses.append((await fetcher.fetch_feed(server.url, timeout=5)).status)
                    await asyncio.sleep(0.2)  # the server's FIN arrives
            finally:
                await fetcher.aclose()
            return server.connections, statuses

    connections, statuses = asyncio.run(main())
    assert statuses == [200, 200, 200]
    assert connections == 3


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured: the request goes to the proxy, in absolute form."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(RSS), RSS))
        await writer.drain()
        writer.close()

    async def main() -> bytes:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        with socket.socket() as closed:  # a port nothing listens on: no way but the proxy
            closed.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{closed.getsockname()[1]}/rss"
        fetcher = Fetcher()
        try:
            return (await fetcher.fetch_feed(url, timeout=5)).body
        finally:
            await fetcher.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == RSS
    assert len(seen) == 1
    assert re.match(rb"GET http://127\.0\.0\.1:\d+/rss HTTP/1\.1\r\n", seen[0])


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


# ---------------------------------------------------------------- max_age


@pytest.mark.parametrize(
    ("headers", "max_age"),
    [
        ({"Cache-Control": "max-age=300"}, 300),
        ({"Cache-Control": "public, s-maxage=10, max-age=60"}, 60),
        ({"Cache-Control": "s-maxage=10"}, None),
        ({"Cache-Control": "no-cache"}, 0),
        ({"Cache-Control": "max-age=600, no-store"}, 0),
        ({"Cache-Control": 'max-age="120"'}, 120),
        ({"Cache-Control": "max-age=soon"}, None),
        ({"Cache-Control": "max-age=-5"}, None),
        ({"Cache-Control": "max-age=" + "9" * 400}, MAX_LIFETIME),
        ({"Cache-Control": "max-age=60", "Expires": "Sun, 06 Nov 1994 09:49:37 GMT"}, 60),
        ({"Expires": "Sun, 06 Nov 1994 08:51:37 GMT"}, 120),
        ({"Expires": "Sun, 06 Nov 1994 10:49:37 +0200"}, 0),  # 08:49:37 GMT: expired now
        ({"Expires": "Sat, 05 Nov 1994 08:49:37 GMT"}, 0),
        ({"Expires": "0"}, None),
        ({"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_LIFETIME),
        ({}, None),
    ],
)
def test_max_age_of_a_200_and_a_304(
    site: NewsSite, headers: dict[str, str], max_age: float | None
) -> None:
    full = {"Date": DATE, "ETag": '"e"', **headers}
    url = site.put("/fresh-200", raw("200 OK", full, RSS))
    site.put("/fresh-304", raw("304 Not Modified", full))
    got = run(
        lambda f: asyncio.gather(
            f.fetch_feed(url, timeout=5),
            f.fetch_feed(site.url + "/fresh-304", timeout=5, etag='"e"'),
        )
    )
    assert [r.status for r in got] == [200, 304]
    assert [r.max_age for r in got] == [max_age, max_age]


def test_expires_without_date_counts_from_now(site: NewsSite) -> None:
    expires = formatdate(time.time() + 600, usegmt=True)
    url = site.put("/fresh-nodate", raw("200 OK", {"Expires": expires}, RSS))
    result = run(lambda f: f.fetch_feed(url, timeout=5))
    assert result.max_age is not None
    assert 590 <= result.max_age <= 600


@pytest.mark.parametrize(
    ("cache_control", "expires", "date", "lifetime"),
    [
        (["max-age=30", "max-age=90"], None, None, 30),
        (["public", " MAX-AGE = 45 "], None, None, 45),
        (['private="a, no-store", max-age=20'], None, None, 20),  # a comma inside quotes
        (['no-cache="Set-Cookie", max-age=20'], None, None, 20),  # qualified: not stale
        (["max-age"], None, None, None),
        (["max-age=1.5"], None, None, None),
        (["max-age=\x00"], None, None, None),
        (["max-age=١٢"], None, None, None),  # digits, but not ASCII ones
        (['"unterminated, max-age=5'], None, None, None),
        (["x" * 100_000 + ", max-age=5"], None, None, None),  # past what is read
        ([], "Sun, 06 Nov 1994 08:50:37 GMT", "junk", 60),  # junk Date: from now
        ([], "Sunday, 06-Nov-94 08:50:37 GMT", DATE, 60),  # RFC 850
        ([], "Sun Nov  6 08:50:37 1994", DATE, 60),  # asctime
        ([], "Sun, 06 Nov 99999 08:50:37 GMT", DATE, None),
        ([], "Sun, 06 Nov 1994 08:50:37 GMT" + " " * 100, DATE, None),
        ([], "\udcff", DATE, None),
    ],
)
def test_freshness_of_hostile_headers(
    cache_control: list[str], expires: str | None, date: str | None, lifetime: float | None
) -> None:
    assert freshness_lifetime(cache_control, expires, date, NOW) == lifetime


# ---------------------------------------------------------------- moved_to


def redirect(status: int, location: str) -> Resource:
    return Resource(b"", "text/html", status=status, headers={"Location": location})


@pytest.mark.parametrize(
    ("chain", "moved"),
    [
        ([301], True),
        ([308], True),
        ([301, 308, 301], True),
        ([302], False),
        ([307], False),
        ([301, 302], False),
        ([303, 301], False),
        ([308, 307, 308], False),
    ],
)
def test_moved_to_only_when_every_hop_was_permanent(
    site: NewsSite, chain: list[int], moved: bool
) -> None:
    name = "-".join(map(str, chain)) + "-" + str(moved)
    final = site.add_feed(f"/moved/{name}/final", RSS)
    for i, status in enumerate(chain):
        nxt = final if i == len(chain) - 1 else f"/moved/{name}/{i + 1}"
        site.put(f"/moved/{name}/{i}", redirect(status, nxt))
    result = run(lambda f: f.fetch_feed(f"{site.url}/moved/{name}/0", timeout=5))
    assert result.status == 200
    assert result.url == final
    assert result.moved_to == (final if moved else None)


def test_moved_to_on_a_304_and_never_without_a_redirect(site: NewsSite) -> None:
    final = site.add_feed("/moved-304/final", RSS)
    site.put("/moved-304/old", redirect(301, "/moved-304/final"))
    etag = site._resources["/moved-304/final"].etag

    async def both(f: Fetcher) -> tuple[object, object]:
        moved = await f.fetch_feed(site.url + "/moved-304/old", timeout=5, etag=etag)
        direct = await f.fetch_feed(final, timeout=5)
        return moved, direct

    moved, direct = run(both)
    assert (moved.status, moved.moved_to) == (304, final)  # type: ignore[attr-defined]
    assert (direct.status, direct.moved_to) == (200, None)  # type: ignore[attr-defined]


def test_moved_to_carries_no_userinfo(site: NewsSite) -> None:
    site.add_feed("/moved-auth/final", RSS)
    target = f"http://ed:hunter2@127.0.0.1:{site.port}/moved-auth/final"
    site.put("/moved-auth/old", redirect(308, target))
    url = f"http://ed:hunter2@127.0.0.1:{site.port}/moved-auth/old"
    result = run(lambda f: f.fetch_feed(url, timeout=5))
    assert result.moved_to == f"{site.url}/moved-auth/final"
    assert "hunter2" not in result.url


# ---------------------------------------------------------------- Retry-After


def failure(make: Callable[[Fetcher], Awaitable[object]]) -> FetchError:
    with pytest.raises(FetchError) as caught:
        run(make)
    return caught.value


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        ("429 Too Many Requests", {"Retry-After": "120"}, 120),
        ("503 Service Unavailable", {"Retry-After": " 7 "}, 7),
        ("429 Too Many Requests", {"Retry-After": "Sun, 06 Nov 1994 08:50:07 GMT"}, 30),
        ("503 Service Unavailable", {"Retry-After": "Sun, 06 Nov 1994 08:00:00 GMT"}, 0),
        ("429 Too Many Requests", {"Retry-After": "-30"}, 0),
        ("429 Too Many Requests", {"Retry-After": "9" * 300}, MAX_RETRY_AFTER),
        ("503 Service Unavailable", {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, 86400),
        ("429 Too Many Requests", {"Retry-After": "in a while"}, None),
        ("429 Too Many Requests", {"Retry-After": "1.5"}, None),
        ("429 Too Many Requests", {}, None),
        ("500 Internal Server Error", {"Retry-After": "120"}, None),
        ("410 Gone", {"Retry-After": "120"}, None),
    ],
)
def test_retry_after_of_429_and_503(
    site: NewsSite, status: str, headers: dict[str, str], retry_after: float | None
) -> None:
    url = site.put("/busy", raw(status, {"Date": DATE, **headers}, b"busy"))
    error = failure(lambda f: f.fetch_feed(url, timeout=5))
    assert error.status == int(status[:3])
    assert error.retry_after == retry_after


def test_retry_after_date_without_date_header_counts_from_now(site: NewsSite) -> None:
    url = site.put("/busy-nodate", raw("503 x", {"Retry-After": formatdate(time.time() + 300)}))
    error = failure(lambda f: f.fetch_feed(url, timeout=5))
    assert error.retry_after is not None
    assert 290 <= error.retry_after <= 300


def test_retry_delay_junk() -> None:
    for junk in ("", "now", "\x00", "1e3", "0x10", "١٢", "Sun, 99 Nov 1994 08:50:07 GMT"):
        assert retry_delay(junk, DATE, NOW) is None, junk
    assert retry_delay("0", DATE, NOW) == 0
    assert retry_delay(None, DATE, NOW) is None
