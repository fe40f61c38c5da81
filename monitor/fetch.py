"""HTTP for feeds and article pages: conditional GET, size and time limits, address guard.

Feed URLs come from the operator and are fetched as written. Article links come from feed
content, i.e. from strangers, so before connecting every host is resolved and every address
checked (monitor.addresses): loopback, private, link-local (169.254.169.254, the cloud
metadata service), shared, multicast, reserved ranges and IPv6 forms embedding such IPv4
addresses are refused unless the operator allowed a network (`allow_networks`). The
connection then goes to the address that was checked (the Host header and TLS server name
keep the original name), so DNS rebinding cannot slip past, and redirects are followed by
hand, each hop checked the same way.

Bodies come off the wire raw and are decoded by monitor.content with a cap on the decoded
size, in steps that hand the event loop back (see there).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from monitor import __version__
from monitor.addresses import IPAddress, IPNetwork, address_allowed
from monitor.content import BodyDecoder, content_codings
from monitor.errors import BlockedAddressError, FetchError
from monitor.models import FetchResult

USER_AGENT = f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor)"
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_PAGE_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
_STEPS_PER_YIELD = 16  # decoding steps (64 KiB each at most) between event-loop yields

Resolver = Callable[[str, int], Awaitable[list[str]]]

_STATUS_HINTS = {
    401: "the server wants credentials",
    403: "the server refuses us; it may block automated readers",
    404: "the URL is gone; check feeds.yaml",
    410: "the feed was removed for good; remove it from feeds.yaml",
    429: "the server is rate limiting us; consider a longer interval",
}


async def _system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Target:
    url: str  # what we connect to (host replaced by the checked address)
    host_header: str
    sni: str | None


class Fetcher:
    """One shared httpx client for the whole daemon (connection pooling, HTTP/1.1)."""

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        max_feed_bytes: int = MAX_FEED_BYTES,
        max_page_bytes: int = MAX_PAGE_BYTES,
        resolver: Resolver | None = None,
    ) -> None:
        self.max_feed_bytes = max_feed_bytes
        self.max_page_bytes = max_page_bytes
        self._resolve = resolver or _system_resolver
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch_feed(
        self,
        url: str,
        *,
        timeout: float,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """Conditional GET of a feed the operator listed; 304 comes back as a result."""
        headers = {
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json,"
            " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._get(url, headers, timeout, self.max_feed_bytes, guard=None)

    async def fetch_page(
        self, url: str, *, timeout: float, allow_networks: Sequence[str] = ()
    ) -> FetchResult:
        """GET an article link from a feed, refusing addresses the operator did not allow."""
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
        return await self._get(url, headers, timeout, self.max_page_bytes, guard=nets)

    async def _get(
        self,
        url: str,
        headers: dict[str, str],
        timeout: float,
        limit: int,
        guard: tuple[IPNetwork, ...] | None,
    ) -> FetchResult:
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(url, headers, timeout, limit, guard)
        except TimeoutError as e:
            raise FetchError(f"no complete response within {timeout:g}s", url) from e

    async def _follow(
        self,
        url: str,
        headers: dict[str, str],
        timeout: float,
        limit: int,
        guard: tuple[IPNetwork, ...] | None,
    ) -> FetchResult:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError(f"not an http(s) URL: {current!r}", url)
            target = await self._target(current, guard)
            req_headers = dict(headers)
            extensions: dict[str, object] = {
                "timeout": httpx.Timeout(timeout).as_dict(),
            }
            if target.sni:
                extensions["sni_hostname"] = target.sni
            req_headers["Host"] = target.host_header
            request = self._client.build_request(
                "GET", target.url, headers=req_headers, extensions=extensions
            )
            try:
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as e:
                raise FetchError(_describe_transport_error(e), current) from e
            try:
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} without Location", current)
                    current = urljoin(current, location)
                    continue
                if response.status_code == 304:
                    return FetchResult(
                        url=current,
                        status=304,
                        body=b"",
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
                if response.status_code >= 400:
                    raise FetchError(
                        f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                        current,
                        hint=_hint(response),
                        status=response.status_code,
                    )
                body = await _read_limited(response, limit, current)
                return FetchResult(
                    url=current,
                    status=response.status_code,
                    body=body,
                    content_type=response.headers.get("content-type"),
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
            finally:
                await response.aclose()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", url)

    async def _target(self, url: str, guard: tuple[IPNetwork, ...] | None) -> _Target:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        netloc_host = parts.netloc.rsplit("@", 1)[-1]
        if guard is None:
            return _Target(url, netloc_host, None)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError as e:
                raise FetchError(f"cannot resolve host {host!r}", url) from e
        if not addresses:
            raise FetchError(f"host {host!r} has no address", url)
        for text in addresses:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
            if not address_allowed(addr, guard):
                raise BlockedAddressError(
                    f"refused: {host} resolves to {addr}, a non-public address",
                    url,
                    hint="add its network to allow_networks in feeds.yaml if this is intended",
                )
        addr_text = addresses[0].split("%", 1)[0]
        ip_host = f"[{addr_text}]" if ":" in addr_text else addr_text
        netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return _Target(pinned, netloc_host, host if parts.scheme == "https" else None)


async def _read_limited(response: httpx.Response, limit: int, url: str) -> bytes:
    """The decoded body, refused as soon as the raw or decoded size passes `limit`."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        raise FetchError(f"response of {declared[:20]} bytes is over the {limit}-byte limit", url)
    codings = content_codings(response.headers.get_list("content-encoding"), url)
    decoder = BodyDecoder(codings, limit, url)
    body = bytearray()
    received = steps = 0
    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > limit:
                raise FetchError(f"response is over the {limit}-byte limit", url)
            for piece in decoder.feed(chunk):
                body += piece
                steps += 1
                if steps % _STEPS_PER_YIELD == 0:
                    await asyncio.sleep(0)
    except httpx.HTTPError as e:
        raise FetchError(_describe_transport_error(e), url) from e
    decoder.close()
    return bytes(body)


def _hint(response: httpx.Response) -> str | None:
    hint = _STATUS_HINTS.get(response.status_code)
    retry_after = response.headers.get("retry-after")
    if retry_after and response.status_code in (429, 503):
        hint = f"{hint or 'server busy'}; it asked us to wait {retry_after}"
    return hint


def _describe_transport_error(e: httpx.HTTPError) -> str:
    if isinstance(e, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(e, httpx.ConnectError):
        return "cannot connect"
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.RemoteProtocolError):
        return "the server broke the HTTP protocol"
    return "request failed"
