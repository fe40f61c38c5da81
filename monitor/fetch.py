"""HTTP for feeds and article pages: conditional GET, size and time limits, address guard.

Every URL, whoever wrote it, is parsed strictly before anything is sent (`_parse_url`): http
or https, a host that is a valid DNS name (IDNA for non-ASCII) or IP literal, a port from 1
to 65535, no control characters, at most `MAX_URL_CHARS` characters. Anything else is a
FetchError, and so is every failure below: nothing else leaves a Fetcher.

Article links come from feed content, i.e. from strangers, so before connecting their host
is resolved and every address checked (monitor.addresses): loopback, private, link-local
(169.254.169.254, the cloud metadata service), shared, multicast, reserved ranges and IPv6
forms embedding such IPv4 addresses are refused unless the operator allowed a network
(`allow_networks`). The connection then goes to the address that was checked (the Host
header and TLS server name keep the original name), so DNS rebinding cannot slip past, and
redirects are followed by hand, each hop checked the same way.

Feed URLs come from the operator: the first request goes to the URL as written, unchecked.
Every redirect hop after it is checked like an article link, except that it may also go to
the feed's `allow_networks` and to "the network of the URL the operator wrote": the
special-purpose blocks holding the addresses the feed's own host resolves to
(`monitor.addresses.home_networks`). A feed on 127.0.0.1 may redirect to another port on
127.0.0.0/8 but not to 10.0.0.1 or 169.254.169.254; a feed on a public host may redirect to
public addresses only.

Credentials (`auth`, else the userinfo of the feed URL) go as HTTP Basic to the feed URL's
origin (scheme, host, port) only, never on a redirect elsewhere; userinfo in any other URL is
never sent. Error subjects and messages show URLs through `redact_url`.

Bodies come off the wire raw and are decoded by monitor.content with a cap on the decoded
size, in steps that hand the event loop back (see there).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import http.cookiejar
import ipaddress
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPResponse
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from monitor import __version__
from monitor.addresses import (
    IPAddress,
    IPNetwork,
    address_allowed,
    embedded_ipv4,
    home_networks,
)
from monitor.content import BodyDecoder, content_codings
from monitor.dns import CachingResolver
from monitor.errors import BlockedAddressError, FetchError
from monitor.freshness import freshness_lifetime, retry_delay
from monitor.models import FetchResult
from monitor.redact import MASK, redact_url
from monitor.transport import Transport

USER_AGENT = f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor)"
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_PAGE_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_URL_CHARS = 8192
LINK_CHECK_TIMEOUT = 10.0  # seconds check_link waits for DNS
_STEPS_PER_YIELD = 16  # decoding steps (64 KiB each at most) between event-loop yields
_SUBJECT_CHARS = 300  # longest URL shown in an error
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"

Resolver = Callable[[str, int], Awaitable[list[str]]]

_STATUS_HINTS = {
    401: "the server wants credentials",
    403: "the server refuses us; it may block automated readers",
    404: "the URL is gone; check feeds.yaml",
    410: "the feed was removed for good; remove it from feeds.yaml",
    429: "the server is rate limiting us; consider a longer interval",
}
# What a library may raise from a request: httpx's own tree (transport, protocol and decoding
# errors from httpcore and h11 arrive mapped into it), its InvalidURL, and what escapes it
# unmapped: UnicodeError and ValueError (IDNA or bad values while connecting), OSError.
_REQUEST_ERRORS = (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made
    once per process rather than once per Fetcher: loading the CAs takes about 40 ms."""
    return httpx.create_ssl_context()


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing. A shared jar would let one page's cookies ride along
    to every later request to its address (a CDN address serves thousands of sites; a
    thousand cookies there made every site behind it answer 431), and parsing a stranger's
    Set-Cookie can make http.cookiejar print a traceback ("http.cookiejar bug!")."""

    def extract_cookies(self, response: HTTPResponse, request: urllib.request.Request) -> None:
        return None


@dataclass(frozen=True)
class _Url:
    """A URL that passed `_parse_url`: what to connect to and what to send."""

    scheme: str
    host: str  # lower-case ASCII name (IDNA applied) or IP literal without brackets
    port: int
    explicit_port: bool
    target: str  # path and query as written, "/" when empty
    userinfo: tuple[str, str] | None = field(repr=False)
    literal: IPAddress | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def authority(self) -> str:
        """host[:port] as the Host header wants it (the port only when not the default)."""
        host = (
            f"[{self.host}]"
            if self.literal is not None and self.literal.version == 6
            else self.host
        )
        if self.explicit_port and self.port != _DEFAULT_PORTS[self.scheme]:
            return f"{host}:{self.port}"
        return host

    def without_userinfo(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"

    def pinned(self, address: IPAddress) -> str:
        """The URL with its host replaced by `address` (and the port always written)."""
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.target}"


@dataclass
class _Policy:
    """How one fetch treats its hops."""

    allow: tuple[IPNetwork, ...]
    guard_first: bool  # article links: the first hop is checked too
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    origin: tuple[str, str, int] | None = None  # where credentials may go
    home: tuple[IPNetwork, ...] | None = None  # feeds: found on the first redirect


class Fetcher:
    """One shared httpx client for the whole daemon (connection pooling, HTTP/1.1).

    The pool holds at most `max_connections` connections, all of which may stay open
    between requests; a request beyond that waits for one inside its deadline, so size it
    to the requests that can be in flight at once.
    """

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        max_feed_bytes: int = MAX_FEED_BYTES,
        max_page_bytes: int = MAX_PAGE_BYTES,
        resolver: Resolver | None = None,
        max_connections: int = 64,
    ) -> None:
        self.max_feed_bytes = max_feed_bytes
        self.max_page_bytes = max_page_bytes
        self._dns: CachingResolver | None = None  # ours to close
        if resolver is None:
            self._dns = resolver = CachingResolver()
        self._resolve = resolver
        self._user_agent = user_agent
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # behind a proxy from the environment (HTTP_PROXY and the like) httpx's own
        # transports go through it; else our cheaper one (monitor.transport)
        self._client = httpx.AsyncClient(
            transport=None if urllib.request.getproxies() else Transport(_tls_context(), limits),
            verify=_tls_context(),
            limits=limits,
            cookies=_NoCookies(),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._dns is not None:
            self._dns.close()

    async def fetch_feed(
        self,
        url: str,
        *,
        timeout: float,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_networks: Sequence[IPNetwork] = (),
        auth: tuple[str, str] | None = None,
    ) -> FetchResult:
        """Conditional GET of a feed the operator listed; 304 comes back as a result.

        The first request goes where `url` says; redirects are checked (module docstring).
        `auth` (user, password), else the URL's userinfo, is sent to `url`'s origin only.
        """
        headers = self._headers(_FEED_ACCEPT)
        if etag and _header_safe(etag):
            headers["If-None-Match"] = etag
        if last_modified and _header_safe(last_modified):
            headers["If-Modified-Since"] = last_modified
        first = _parse_url(url)
        policy = _Policy(
            allow=tuple(allow_networks),
            guard_first=False,
            credentials=auth or first.userinfo,
            origin=first.origin,
        )
        return await self._get(url, first, headers, timeout, self.max_feed_bytes, policy)

    async def fetch_page(
        self, url: str, *, timeout: float, allow_networks: Sequence[IPNetwork] = ()
    ) -> FetchResult:
        """GET an article link from a feed, refusing addresses the operator did not allow."""
        first = _parse_url(url)
        policy = _Policy(allow=tuple(allow_networks), guard_first=True)
        headers = self._headers(_PAGE_ACCEPT)
        return await self._get(url, first, headers, timeout, self.max_page_bytes, policy)

    def _headers(self, accept: str) -> dict[str, str]:
        return {
            "User-Agent": self._user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": accept,
        }

    async def check_link(self, url: str, *, allow_networks: Sequence[IPNetwork] = ()) -> str | None:
        """`url` if fetch_page could go there (http(s), parses, every address its host
        resolves to is allowed), else None. Nothing is fetched; never raises."""
        try:
            async with asyncio.timeout(LINK_CHECK_TIMEOUT):
                await self._checked_addresses(_parse_url(url), tuple(allow_networks), url)
        except (FetchError, TimeoutError):
            return None
        return url

    async def _get(
        self,
        url: str,
        first: _Url,
        headers: dict[str, str],
        timeout: float,
        limit: int,
        policy: _Policy,
    ) -> FetchResult:
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(url, first, headers, timeout, limit, policy)
        except TimeoutError as e:
            raise FetchError(f"no complete response within {timeout:g}s", _subject(url)) from e

    async def _follow(
        self,
        url: str,
        first: _Url,
        headers: dict[str, str],
        timeout: float,
        limit: int,
        policy: _Policy,
    ) -> FetchResult:
        current, target = url, first
        permanent = True  # every redirect so far was 301 or 308
        for hop in range(MAX_REDIRECTS + 1):
            addresses = None  # the first hop of a feed: connect by name, as written
            if hop or policy.guard_first:
                allow = await self._allowed(policy)
                addresses = await self._checked_addresses(target, allow, current, hop > 0)
            response = await self._send(target, addresses, headers, timeout, policy, current)
            try:
                if response.status_code in _REDIRECTS:
                    permanent = permanent and response.status_code in _PERMANENT
                    target = _parse_url(_redirect(current, response))
                    current = target.without_userinfo()  # userinfo never follows a redirect
                    continue
                moved_to = current if hop and permanent else None
                return await _result(response, url if hop == 0 else current, limit, moved_to)
            finally:
                with contextlib.suppress(*_REQUEST_ERRORS):  # done with it either way
                    await response.aclose()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", _subject(url))

    async def _allowed(self, policy: _Policy) -> tuple[IPNetwork, ...]:
        """The networks a checked hop may reach beyond public addresses."""
        if policy.guard_first or policy.origin is None:
            return policy.allow
        if policy.home is None:
            _, host, port = policy.origin
            try:
                policy.home = home_networks(await self._addresses(host, port, host))
            except FetchError:
                policy.home = ()  # the feed's host no longer resolves: public addresses only
        return policy.allow + policy.home

    async def _addresses(self, host: str, port: int, subject: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            texts = await self._resolve(host, port)
            addresses = [ipaddress.ip_address(t.split("%", 1)[0]) for t in texts]
        except (OSError, ValueError) as e:
            raise FetchError(f"cannot resolve host {host!r}", _subject(subject)) from e
        if not addresses:
            raise FetchError(f"host {host!r} has no address", _subject(subject))
        return addresses

    async def _checked_addresses(
        self, target: _Url, allow: tuple[IPNetwork, ...], url: str, redirect: bool = False
    ) -> list[IPAddress]:
        """The addresses to connect to, once every address of the host passed the guard."""
        if target.literal is not None:
            addresses = [target.literal]
        else:
            addresses = await self._addresses(target.host, target.port, url)
        for addr in addresses:
            if not address_allowed(addr, allow):
                inner = ", ".join(str(a) for a in embedded_ipv4(addr))
                shown = f"{addr} (embedding {inner})" if inner else str(addr)
                where = "" if target.literal is not None else f"{target.host} resolves to "
                raise BlockedAddressError(
                    f"refused{' redirect' if redirect else ''}: {where}{shown},"
                    " a non-public address",
                    _subject(url),
                    hint="add its network to allow_networks in feeds.yaml if this is intended",
                )
        return list(dict.fromkeys(addresses))

    async def _send(
        self,
        target: _Url,
        addresses: list[IPAddress] | None,
        headers: dict[str, str],
        timeout: float,
        policy: _Policy,
        url: str,
    ) -> httpx.Response:
        """Send the request to the first of the checked `addresses` that accepts a
        connection (or, with None, to the host by name)."""
        req_headers = dict(headers)
        extensions: dict[str, object] = {"timeout": _timeouts(timeout)}
        if addresses is None:
            wire_urls = [target.without_userinfo()]
        else:
            wire_urls = [target.pinned(address) for address in addresses]
            req_headers["Host"] = target.authority
            if target.scheme == "https" and target.literal is None:
                extensions["sni_hostname"] = target.host
        if policy.credentials is not None and target.origin == policy.origin:
            req_headers["Authorization"] = _basic(*policy.credentials)
        refused: httpx.ConnectError | None = None
        for wire_url in wire_urls:
            try:
                request = httpx.Request("GET", wire_url, headers=req_headers, extensions=extensions)
                return await self._client.send(request, stream=True)
            except httpx.ConnectError as e:
                refused = e  # the next address may accept
            except _REQUEST_ERRORS as e:
                raise FetchError(_describe_error(e), _subject(url)) from e
        raise FetchError("cannot connect", _subject(url)) from refused


async def _result(
    response: httpx.Response, url: str, limit: int, moved_to: str | None
) -> FetchResult:
    headers = response.headers
    if response.status_code >= 400:
        reason = _printable(response.reason_phrase, 80)
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = retry_delay(headers.get("retry-after"), headers.get("date"), time.time())
        raise FetchError(
            f"HTTP {response.status_code} {reason}".rstrip(),
            _subject(url),
            hint=_hint(response),
            status=response.status_code,
            retry_after=retry_after,
        )
    if response.status_code == 304:
        body = await _read_nothing(response, url)
        content_type = None
    else:
        body = await _read_limited(response, limit, url)
        content_type = headers.get("content-type")
    return FetchResult(
        url=url,
        status=response.status_code,
        body=body,
        content_type=content_type,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        max_age=freshness_lifetime(
            headers.get_list("cache-control"),
            headers.get("expires"),
            headers.get("date"),
            time.time(),
        ),
        moved_to=moved_to,
    )


@functools.lru_cache(maxsize=64)
def _timeouts(timeout: float) -> dict[str, float | None]:
    """httpx's per-request timeout extension, made once per distinct value (httpcore only
    reads it)."""
    return httpx.Timeout(timeout).as_dict()


async def _read_limited(response: httpx.Response, limit: int, url: str) -> bytes:
    """The decoded body, refused as soon as the raw or decoded size passes `limit`."""
    subject = _subject(url)
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        raise FetchError(
            f"response of {declared[:20]} bytes is over the {limit}-byte limit", subject
        )
    codings = content_codings(response.headers.get_list("content-encoding"), subject)
    decoder = BodyDecoder(codings, limit, subject)
    body = bytearray()
    received = steps = 0
    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > limit:
                raise FetchError(f"response is over the {limit}-byte limit", subject)
            for piece in decoder.feed(chunk):
                body += piece
                steps += 1
                if steps % _STEPS_PER_YIELD == 0:
                    await asyncio.sleep(0)
    except _REQUEST_ERRORS as e:
        raise FetchError(_describe_error(e), subject) from e
    decoder.close()
    return bytes(body)


async def _read_nothing(response: httpx.Response, url: str) -> bytes:
    """The end of a response that has no body (a 304). Until it is read the connection is
    not reused: httpcore closes a connection whose response was closed unread."""
    try:
        async for _ in response.aiter_raw():
            pass  # h11 gives a 304 no body whatever its headers say
    except _REQUEST_ERRORS as e:
        raise FetchError(_describe_error(e), _subject(url)) from e
    return b""


def _parse_url(url: str) -> _Url:
    """`url` checked and taken apart, or FetchError saying what is wrong with it."""
    subject = _subject(url)
    _check_text(url, subject)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise FetchError("malformed URL", subject) from _without_userinfo(e, url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise FetchError(f"not an http(s) URL (scheme {parts.scheme[:20]!r})", subject)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):
        bracket = hostport.find("]")
        host_text, port_text = hostport[1:bracket], hostport[bracket + 1 :]
        if bracket == -1 or (port_text and not port_text.startswith(":")):
            raise FetchError("malformed IPv6 address in URL", subject)
        literal: IPAddress | None = _ipv6_literal(host_text, subject)
        host = str(literal)
    else:
        host_text, _, port_text = hostport.partition(":")
        port_text = ":" + port_text if port_text else ""
        host = _dns_name(host_text, subject)
        literal = _ipv4_literal(host)
    port_digits = port_text[1:]
    if port_digits and not (
        port_digits.isascii()
        and port_digits.isdigit()
        and len(port_digits) <= 5
        and 1 <= int(port_digits) <= 65535
    ):
        shown = f" {port_digits}" if port_digits.isdigit() and len(port_digits) <= 20 else ""
        raise FetchError(f"invalid port{shown} in URL", subject)
    credentials = None
    if userinfo:
        user, _, password = userinfo.partition(":")
        credentials = (unquote(user), unquote(password))
    return _Url(
        scheme=parts.scheme,
        host=host,
        port=int(port_digits) if port_digits else _DEFAULT_PORTS[parts.scheme],
        explicit_port=bool(port_digits),
        target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        userinfo=credentials,
        literal=literal,
    )


def _without_userinfo(e: ValueError, url: str) -> ValueError:
    """`e`, or a copy whose message has the URL's userinfo masked (urlsplit's complaint about
    a netloc quotes the netloc whole)."""
    authority = url.partition("://")[2]
    for end in "/?#":
        authority = authority.partition(end)[0]
    userinfo = authority.rpartition("@")[0]
    if userinfo and userinfo in str(e):
        return ValueError(str(e).replace(userinfo, MASK))
    return e


def _check_text(url: str, subject: str) -> None:
    if len(url) > MAX_URL_CHARS:
        raise FetchError(f"URL of {len(url)} characters (the limit is {MAX_URL_CHARS})", subject)
    control = next((c for c in url if c < " " or c == "\x7f"), None)
    if control is not None:
        raise FetchError(f"URL contains the control character {control!r}", subject)


def _ipv6_literal(text: str, subject: str) -> ipaddress.IPv6Address:
    if "%" in text:
        raise FetchError("IPv6 zone identifiers are not allowed in URLs", subject)
    try:
        return ipaddress.IPv6Address(text)
    except ValueError as e:
        raise FetchError("malformed IPv6 address in URL", subject) from e


def _ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        return None


def _dns_name(text: str, subject: str) -> str:
    """A host name as lower-case ASCII (IDNA for non-ASCII names), or FetchError."""
    if not text:
        raise FetchError("URL has no host", subject)
    name = text
    if not name.isascii():
        try:
            name = httpx.URL(scheme="http", host=name).raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError) as e:
            raise FetchError(
                f"host {_printable(text, 80)!r} is not a valid IDNA name", subject
            ) from e
    name = name.lower()
    labels = (name[:-1] if name.endswith(".") else name).split(".")
    if len(name) > 253 or not all(
        0 < len(label) <= 63 and _HOST_CHARS.issuperset(label) for label in labels
    ):
        raise FetchError(f"invalid host name {_printable(text, 80)!r}", subject)
    return name


def _redirect(current: str, response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        raise FetchError(f"HTTP {response.status_code} without Location", _subject(current))
    subject = _subject(current)
    _check_text(location, subject)
    try:
        joined: str = urljoin(current, location)
    except ValueError as e:
        raise FetchError(
            f"malformed redirect to {_printable(redact_url(location), 200)!r}", subject
        ) from e
    return joined


def _basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _header_safe(value: str) -> bool:
    """A validator from a server is sent back only if it is printable ASCII."""
    return value.isascii() and value.isprintable() and len(value) <= 1024


def _subject(url: str) -> str:
    """`url` as errors show it: credentials out, control characters escaped, length capped."""
    return _printable(redact_url(url), _SUBJECT_CHARS)


def _printable(text: str, limit: int) -> str:
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + "…" if len(text) > limit else shown


def _hint(response: httpx.Response) -> str | None:
    hint = _STATUS_HINTS.get(response.status_code)
    retry_after = response.headers.get("retry-after")
    if retry_after and response.status_code in (429, 503):
        hint = f"{hint or 'server busy'}; it asked us to wait {_printable(retry_after, 40)}"
    return hint


def _describe_error(e: Exception) -> str:
    if isinstance(e, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(e, httpx.ConnectError):
        return "cannot connect"
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.RemoteProtocolError):
        return "the server broke the HTTP protocol"
    if isinstance(e, httpx.InvalidURL | UnicodeError):
        return "the URL cannot be requested"
    return "request failed"
