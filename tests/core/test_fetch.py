"""HTTP against a real server on 127.0.0.1: conditional GET, limits, the address guard."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from monitor.errors import BlockedAddressError, FetchError
from monitor.fetch import Fetcher, address_allowed
from tests.support.site import NewsSite, Resource

T = TypeVar("T")
LOOPBACK = ("127.0.0.0/8",)


def run(make: Callable[[Fetcher], Awaitable[T]], **kw: object) -> T:
    async def main() -> T:
        fetcher = Fetcher(**kw)  # type: ignore[arg-type]
        try:
            return await make(fetcher)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("addr", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
    ],
)
def test_address_guard(addr: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(addr)) is allowed


def test_allowed_network_opens_the_guard() -> None:
    nets = (ipaddress.ip_network("127.0.0.0/8"),)
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), nets)
    assert not address_allowed(ipaddress.ip_address("169.254.169.254"), nets)


def test_conditional_get() -> None:
    with NewsSite() as site:
        url = site.add_feed("/feed.xml", b"<rss version='2.0'><channel></channel></rss>")
        first = run(lambda f: f.fetch_feed(url, timeout=5))
        assert first.status == 200 and first.etag and first.last_modified
        second = run(
            lambda f: f.fetch_feed(
                url, timeout=5, etag=first.etag, last_modified=first.last_modified
            )
        )
        assert second.not_modified and second.body == b""
        sent = site.requests_for("/feed.xml")[1].headers
        assert sent["if-none-match"] == first.etag
        assert sent["if-modified-since"] == first.last_modified
        assert sent["user-agent"].startswith("news-monitor/")


def test_article_on_loopback_is_refused_without_allow() -> None:
    with NewsSite() as site:
        url = site.add_page("/a.html", "<p>secret</p>")
        with pytest.raises(BlockedAddressError, match="non-public address"):
            run(lambda f: f.fetch_page(url, timeout=5))
        assert site.requests_for("/a.html") == []
        page = run(lambda f: f.fetch_page(url, timeout=5, allow_networks=LOOPBACK))
        assert page.body == b"<p>secret</p>"


def test_metadata_address_is_never_contacted() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254"):
        run(
            lambda f: f.fetch_page("http://metadata.example/latest/", timeout=5),
            resolver=resolver,
        )


def test_redirect_to_a_blocked_address_is_refused() -> None:
    with NewsSite() as site:
        url = site.put(
            "/r",
            Resource(b"", "text/html", status=302, headers={"Location": "http://169.254.169.254/"}),
        )
        with pytest.raises(BlockedAddressError):
            run(lambda f: f.fetch_page(url, timeout=5, allow_networks=("127.0.0.1/32",)))


def test_connection_goes_to_the_checked_address() -> None:
    """DNS is asked once; the request goes to that address with the original Host header."""
    with NewsSite() as site:
        site.add_page("/story", "<p>ok</p>")
        calls: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["127.0.0.1"]

        page = run(
            lambda f: f.fetch_page(
                f"http://news.example:{site.port}/story", timeout=5, allow_networks=LOOPBACK
            ),
            resolver=resolver,
        )
        assert page.body == b"<p>ok</p>"
        assert calls == ["news.example"]
        assert site.requests_for("/story")[0].headers["host"] == f"news.example:{site.port}"


def test_oversized_response_is_refused() -> None:
    with NewsSite() as site:
        url = site.add_page("/big", b"x" * 5000)
        with pytest.raises(FetchError, match="over the 1000-byte limit"):
            run(
                lambda f: f.fetch_page(url, timeout=5, allow_networks=LOOPBACK), max_page_bytes=1000
            )


def test_slow_drip_is_cut_off_by_the_total_timeout() -> None:
    with NewsSite() as site:
        url = site.put("/slow", Resource(b"y" * 4096, "text/html", drip=0.2))
        with pytest.raises(FetchError, match=r"no complete response within 0\.5s"):
            run(lambda f: f.fetch_page(url, timeout=0.5, allow_networks=LOOPBACK))


@pytest.mark.parametrize(("status", "hint"), [(404, "gone"), (410, "removed"), (429, "rate")])
def test_http_errors_carry_status_and_hint(status: int, hint: str) -> None:
    with NewsSite() as site:
        url = site.put("/x", Resource(b"no", "text/plain", status=status))
        with pytest.raises(FetchError) as info:
            run(lambda f: f.fetch_feed(url, timeout=5))
        assert info.value.status == status
        assert hint in str(info.value)
        assert str(info.value).startswith(url)


def test_redirect_loop_gives_up() -> None:
    with NewsSite() as site:
        url = site.put(
            "/loop", Resource(b"", "text/html", status=301, headers={"Location": "/loop"})
        )
        with pytest.raises(FetchError, match="more than 5 redirects"):
            run(lambda f: f.fetch_feed(url, timeout=5))


def test_nothing_listening() -> None:
    with NewsSite() as site:
        port = site.port
    with pytest.raises(FetchError, match="cannot connect"):
        run(lambda f: f.fetch_feed(f"http://127.0.0.1:{port}/feed", timeout=5))
