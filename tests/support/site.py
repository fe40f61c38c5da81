"""A real news site on 127.0.0.1 for tests and the demo: feeds and article pages over HTTP.

Feeds answer conditional GETs (ETag and Last-Modified -> 304) like a real publisher.
Any path can be made to fail (status, slow drip, oversized body, redirect), and every
request is recorded, so tests assert what the client actually sent. A path can also answer
with handcrafted bytes (`Resource.raw`: a broken status line, a lying Content-Length, an
endless body).

    with NewsSite() as site:
        site.add_page("/a/1.html", html)
        site.add_feed("/feed.xml", rss_feed("Desk", [FeedEntry(...)], base=site.url))
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass
class Resource:
    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = False  # answer If-None-Match / If-Modified-Since with 304
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between body chunks (a slow server)
    last_modified: str = ""
    # A handcrafted answer: the bytes it yields are written verbatim (status line, headers,
    # body, in pieces as yielded), then the connection closes. The other fields are ignored.
    raw: Callable[[], Iterable[bytes]] | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class FeedEntry:
    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None


def rss_feed(
    title: str, entries: Sequence[FeedEntry], *, link: str = "http://example.org/"
) -> bytes:
    """An RSS 2.0 document."""
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>", f"<link>{escape(e.link)}</link>"]
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.summary:
            parts.append(f"<description>{escape(e.summary)}</description>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(title)}</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def compressed_zeros(mib: int, wrapper: str = "gzip") -> bytes:
    """`mib` MiB of zeros as one gzip member, a zlib stream or a bare deflate stream
    (`wrapper` "gzip", "zlib" or "raw"): a compression bomb, built from one compressed MiB
    repeated (each ends in a full flush, so the copies are independent) in a fraction of the
    time compressing it would take."""
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    stream = segment * mib + b"\x03\x00"  # and a last, empty block
    if wrapper == "raw":
        return stream
    if wrapper == "zlib":
        adler = 1
        for _ in range(mib):
            adler = zlib.adler32(zeros, adler)
        return b"\x78\xda" + stream + struct.pack(">I", adler)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + stream + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections when many clients arrive at once


class NewsSite:
    def __init__(self, host: str = HOST) -> None:
        self._resources: dict[str, Resource] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.host = host
        self.in_flight = 0  # requests being answered now
        self.peak_in_flight = 0  # the most answered at once
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site._serve(self)

        self._server = _Server((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> NewsSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ content

    def put(self, path: str, resource: Resource) -> str:
        with self._lock:
            self._resources[path] = resource
        return self.url + path

    def add_feed(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> str:
        stamp = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True)
        return self.put(path, Resource(body, content_type, conditional=True, last_modified=stamp))

    def add_page(
        self, path: str, html: str | bytes, content_type: str = "text/html; charset=utf-8"
    ) -> str:
        body = html.encode() if isinstance(html, str) else html
        return self.put(path, Resource(body, content_type))

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------------ serving

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._answer(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Request("GET", path, headers))
            res = self._resources.get(path)
        if res is None:
            self._reply(handler, 404, b"not found", "text/plain", {})
            return
        if res.delay:
            time.sleep(res.delay)
        if res.raw is not None:
            self._reply_raw(handler, res.raw())
            return
        extra = dict(res.headers)
        if res.conditional:
            extra["ETag"] = res.etag
            extra["Last-Modified"] = res.last_modified
            if headers.get("if-none-match") == res.etag or (
                "if-none-match" not in headers
                and headers.get("if-modified-since") == res.last_modified
            ):
                self._reply(handler, 304, b"", None, extra)
                return
        self._reply(handler, res.status, res.body, res.content_type, extra, drip=res.drip)

    @staticmethod
    def _reply_raw(handler: BaseHTTPRequestHandler, pieces: Iterable[bytes]) -> None:
        handler.close_connection = True
        try:
            for piece in pieces:
                handler.wfile.write(piece)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str],
        drip: float = 0.0,
    ) -> None:
        try:
            handler.send_response(status)
            if content_type:
                handler.send_header("Content-Type", content_type)
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if not drip:
                handler.wfile.write(body)
                return
            for i in range(0, len(body), 64):
                handler.wfile.write(body[i : i + 64])
                handler.wfile.flush()
                time.sleep(drip)
        except (BrokenPipeError, ConnectionResetError):
            pass
