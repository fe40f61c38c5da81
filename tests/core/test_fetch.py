"""HTTP against a real server on 127.0.0.1: conditional GET, limits, the address guard,
feed redirects, credentials, content codings."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ipaddress
import zlib
from collections.abc import Awaitable, Callable, Iterator
from ipaddress import ip_network
from typing import TypeVar

import pytest

from monitor.addresses import address_allowed, embedded_ipv4, home_networks
from monitor.errors import BlockedAddressError, FetchError
from monitor.fetch import Fetcher
from tests.support.site import NewsSite, Resource

T = TypeVar("T")
LOOPBACK = (ip_network("127.0.0.0/8"),)


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    """One site for the parametrized cases (starting and stopping one takes half a second)."""
    with NewsSite() as s:
        yield s


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
        # IPv4 carried inside IPv6: the IPv4 address decides
        ("::ffff:93.184.216.34", True),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible: deprecated, never public
        ("::93.184.216.34", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata service
        ("64:ff9b::10.0.0.1", False),
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("64:ff9b:1::5db8:d822", False),  # local-use NAT64: never public
        ("64:ff9b:1:2:3:4:7f00:1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:5db8:d822::1", True),  # 6to4 of 93.184.216.34
        # Teredo: server 93.184.216.34, client obfuscated (~) 93.184.216.35 / 127.0.0.1
        ("2001:0:5db8:d822:0:0:a247:27dc", True),
        ("2001:0:5db8:d822:0:0:80ff:fffe", False),
        ("2001:0:7f00:1:0:0:a247:27dc", False),  # server 127.0.0.1
        ("2001:0:a9fe:a9fe:0:0:a247:27dc", False),  # server 169.254.169.254
        # other special-purpose IPv6
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("100::1", False),
        ("2001:2::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("4000::1", False),  # unassigned, outside 2000::/3
        ("::", False),
        # special-purpose IPv4 that Python's own tables have changed on
        ("192.0.0.9", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("198.51.100.7", False),
        ("203.0.113.9", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.88.99.1", False),
        ("0.1.2.3", False),
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("192.31.196.1", True),  # AS112: global
    ],
)
def test_address_guard(addr: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(addr)) is allowed


@pytest.mark.parametrize(
    ("addr", "inner"),
    [
        ("::ffff:127.0.0.1", ["127.0.0.1"]),
        ("::10.0.0.1", ["10.0.0.1"]),
        ("64:ff9b::a9fe:a9fe", ["169.254.169.254"]),
        ("2002:7f00:1::", ["127.0.0.1"]),
        ("2001:0:5db8:d822:0:0:80ff:fffe", ["93.184.216.34", "127.0.0.1"]),
        ("2606:2800:220:1::1", []),
        ("::1", []),
        ("127.0.0.1", []),
    ],
)
def test_embedded_ipv4_is_decoded(addr: str, inner: list[str]) -> None:
    assert [str(a) for a in embedded_ipv4(ipaddress.ip_address(addr))] == inner


@pytest.mark.parametrize(
    ("resolved", "home"),
    [
        (["127.0.0.1"], ["127.0.0.0/8"]),
        (["127.0.0.1", "::1"], ["127.0.0.0/8", "::1/128"]),
        (["10.20.30.40"], ["10.0.0.0/8"]),
        (["172.20.0.5"], ["172.16.0.0/12"]),
        (["192.168.7.7"], ["192.168.0.0/16"]),
        (["100.64.1.1"], ["100.64.0.0/10"]),
        (["169.254.1.1"], ["169.254.0.0/16"]),
        (["fd12:3456::1"], ["fc00::/7"]),
        (["fe80::1"], ["fe80::/10"]),
        (["::ffff:192.168.1.1"], ["192.168.0.0/16"]),
        (["64:ff9b::7f00:1"], ["64:ff9b::7f00:1/128"]),  # embedding prefixes: itself only
        (["93.184.216.34"], []),  # public: public addresses are allowed anyway
        (["93.184.216.34", "10.0.0.1"], ["10.0.0.0/8"]),
    ],
)
def test_home_network_is_the_special_purpose_block(resolved: list[str], home: list[str]) -> None:
    nets = home_networks(ipaddress.ip_address(a) for a in resolved)
    assert [str(n) for n in nets] == home


@pytest.mark.parametrize(
    ("feed_host", "hop", "allowed"),
    [
        ("127.0.0.1", "127.0.0.2", True),
        ("127.0.0.1", "::ffff:127.0.0.9", True),
        ("127.0.0.1", "169.254.169.254", False),
        ("127.0.0.1", "10.0.0.1", False),
        ("127.0.0.1", "0.0.0.0", False),
        ("127.0.0.1", "::1", False),
        ("127.0.0.1", "93.184.216.34", True),
        ("10.1.1.1", "10.200.0.1", True),
        ("10.1.1.1", "192.168.0.1", False),
        ("93.184.216.34", "127.0.0.1", False),
        ("93.184.216.34", "169.254.169.254", False),
        ("93.184.216.34", "64:ff9b::a9fe:a9fe", False),
        ("93.184.216.34", "151.101.1.1", True),
    ],
)
def test_feed_redirect_stays_public_or_home(feed_host: str, hop: str, allowed: bool) -> None:
    home = home_networks([ipaddress.ip_address(feed_host)])
    assert address_allowed(ipaddress.ip_address(hop), home) is allowed


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
            run(
                lambda f: f.fetch_page(url, timeout=5, allow_networks=(ip_network("127.0.0.1/32"),))
            )


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


def test_the_next_checked_address_is_tried_when_one_refuses(site: NewsSite) -> None:
    """A name with several addresses (localhost: ::1 and 127.0.0.1) where the server listens
    on one of them only: the checked addresses are tried in order."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    site.add_page("/two-addresses", "<p>ok</p>")
    page = run(
        lambda f: f.fetch_page(
            f"http://news.example:{site.port}/two-addresses", timeout=5, allow_networks=LOOPBACK
        ),
        resolver=resolver,
    )
    assert page.body == b"<p>ok</p>"


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


def redirect(location: str, status: int = 302) -> Resource:
    return Resource(b"", "text/html", status=status, headers={"Location": location})


FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def test_feed_redirect_within_the_operators_network_is_followed() -> None:
    with NewsSite() as site, NewsSite() as other:
        target = other.add_feed("/moved.xml", FEED)
        url = site.put("/feed.xml", redirect(target))
        result = run(lambda f: f.fetch_feed(url, timeout=5))
        assert result.body == FEED and result.url == target


@pytest.mark.parametrize(
    "location",
    [
        "http://0.0.0.0:{port}/",  # "this host" on Linux: reaches the loopback server
        "http://[::ffff:0.0.0.0]:{port}/",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_feed_redirect_out_of_the_operators_network_is_refused(
    site: NewsSite, location: str
) -> None:
    private = f"/private/{location.encode().hex()}"
    site.add_page(private, "private")
    url = site.put(f"/out{private}", redirect(location.format(port=site.port) + private[1:]))
    with pytest.raises(BlockedAddressError, match="refused redirect") as info:
        run(lambda f: f.fetch_feed(url, timeout=5))
    assert "allow_networks" in str(info.value)
    assert len(site.requests_for(f"/out{private}")) == 1
    assert site.requests_for(private) == []


def test_feed_allow_networks_opens_redirects() -> None:
    with NewsSite() as site:
        site.add_feed("/private", FEED)
        url = site.put("/feed.xml", redirect(f"http://0.0.0.0:{site.port}/private"))
        result = run(
            lambda f: f.fetch_feed(url, timeout=5, allow_networks=(ip_network("0.0.0.0/8"),))
        )
        assert result.body == FEED


def test_feed_on_a_public_host_may_not_redirect_to_loopback() -> None:
    """The feed's host resolves (for the guard) to a public address: its redirects may go to
    public addresses only, so a hop to 127.0.0.1 is refused although the feed itself is
    served from loopback (the first request goes where the operator said, unchecked)."""

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    with NewsSite() as site:
        site.add_feed("/private", FEED)
        site.put("/feed.xml", redirect(f"http://127.0.0.1:{site.port}/private"))
        with pytest.raises(BlockedAddressError, match=r"refused redirect: 127\.0\.0\.1"):
            run(
                lambda f: f.fetch_feed(f"http://localhost:{site.port}/feed.xml", timeout=5),
                resolver=public,
            )
        assert len(site.requests_for("/feed.xml")) == 1
        assert site.requests_for("/private") == []


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auth_goes_to_the_feed_origin_only() -> None:
    with NewsSite() as site, NewsSite() as other:
        site.add_feed("/private/feed.xml", FEED)
        site.put("/feed.xml", redirect("/private/feed.xml"))
        run(lambda f: f.fetch_feed(site.url + "/feed.xml", timeout=5, auth=("ed", "pw:ö")))
        sent = [r.headers.get("authorization") for r in site.requests]
        assert sent == [basic("ed", "pw:ö")] * 2

        other.add_feed("/feed.xml", FEED)
        site.put("/away.xml", redirect(other.url + "/feed.xml"))
        run(lambda f: f.fetch_feed(site.url + "/away.xml", timeout=5, auth=("ed", "pw")))
        assert site.requests_for("/away.xml")[0].headers["authorization"] == basic("ed", "pw")
        assert "authorization" not in other.requests_for("/feed.xml")[0].headers


def test_url_userinfo_is_sent_as_basic_auth_to_its_origin_only() -> None:
    with NewsSite() as site, NewsSite() as other:
        other.add_feed("/feed.xml", FEED)
        site.put("/feed.xml", redirect(other.url + "/feed.xml"))
        url = f"http://ed:p%40ss@127.0.0.1:{site.port}/feed.xml"
        result = run(lambda f: f.fetch_feed(url, timeout=5))
        assert result.body == FEED
        assert site.requests[0].headers["authorization"] == basic("ed", "p@ss")
        assert "authorization" not in other.requests[0].headers
        assert "p%40ss" not in result.url and "ed@" not in result.url


def test_explicit_auth_wins_over_userinfo() -> None:
    with NewsSite() as site:
        site.add_feed("/feed.xml", FEED)
        url = f"http://ed:old@127.0.0.1:{site.port}/feed.xml"
        run(lambda f: f.fetch_feed(url, timeout=5, auth=("ed", "new")))
        assert site.requests[0].headers["authorization"] == basic("ed", "new")


def test_page_links_never_send_userinfo() -> None:
    with NewsSite() as site:
        site.add_page("/a.html", "<p>a</p>")
        url = f"http://ed:pw@127.0.0.1:{site.port}/a.html"
        run(lambda f: f.fetch_page(url, timeout=5, allow_networks=LOOPBACK))
        assert "authorization" not in site.requests[0].headers


def test_check_link() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        if host == "gone.example":
            raise OSError("no such host")
        return {"meta.example": ["169.254.169.254"], "nat64.example": ["64:ff9b::7f00:1"]}.get(
            host, ["127.0.0.1"]
        )

    async def check(f: Fetcher) -> list[str | None]:
        links = [
            "http://news.example/a",
            "https://news.example:8443/a?b=c",
            "http://meta.example/latest",
            "http://nat64.example/",
            "http://gone.example/",
            "javascript:alert(1)",
            "http://news.example:99999/",
            "http://[x/",
            "http://news.example/a\r\nX: y",
            "",
        ]
        return [await f.check_link(link, allow_networks=LOOPBACK) for link in links]

    results = run(check, resolver=resolver)
    assert results == [
        "http://news.example/a",
        "https://news.example:8443/a?b=c",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert run(lambda f: f.check_link("http://news.example/a"), resolver=resolver) is None


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # the same bytes in every process (test ids)


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzipped(FEED)),
        ("x-gzip", gzipped(FEED)),
        ("GZIP", gzipped(FEED)),
        ("gzip", gzipped(FEED[:20]) + gzipped(FEED[20:])),  # two members
        ("gzip", gzipped(FEED) + b"\0\0\0\0"),  # padding after the member is ignored
        ("deflate", zlib.compress(FEED)),  # zlib format, as the standard says
        ("deflate", raw_deflate(FEED)),  # bare deflate, as some servers send
        ("gzip, gzip", gzipped(gzipped(FEED))),
        ("deflate, gzip", gzipped(zlib.compress(FEED))),
        ("identity", FEED),
        ("identity, gzip", gzipped(FEED)),
    ],
)
def test_content_codings_are_decoded(site: NewsSite, encoding: str, body: bytes) -> None:
    resource = Resource(body, "application/rss+xml", headers={"Content-Encoding": encoding})
    url = site.put(f"/coded/{body.hex()[-16:]}/{encoding.encode().hex()}", resource)
    assert run(lambda f: f.fetch_feed(url, timeout=5)).body == FEED
    assert site.requests[-1].headers["accept-encoding"] == "gzip, deflate"
