"""Hostile feeds, descriptions, pages and charsets for parse and extract, built in code.

One place for every case, so the tests in this package and the before/after table
(`tests/bench/hostile_text.py`) run the same inputs. Each builder takes its size so a test
can run a case at the size the issue reported and a property test can vary it.
`isolated(call)` runs one call in a forked child and reports its time and peak memory,
which covers what the C libraries allocate (tracemalloc sees only Python's allocations).
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FEED_URL = "http://feeds.example/feed"
MiB = 1 << 20


@dataclass(frozen=True)
class Run:
    seconds: float
    peak: int  # bytes of resident memory above what the child held before the call
    result: Any  # what the call returned, or the exception it raised


def isolated(call: Callable[[], Any], timeout: float = 120.0) -> Run:
    """Run `call` in a forked child: its wall time, its peak resident memory above the
    child's memory before the call (Linux: VmHWM after resetting it), and its result."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, report through the pipe, leave without cleanup
        try:
            Path("/proc/self/clear_refs").write_text("5")
            before = _status("VmRSS")
            started = time.perf_counter()
            try:
                result: Any = call()
            except Exception as e:
                result = e
            run = Run(time.perf_counter() - started, _status("VmHWM") - before, result)
            with os.fdopen(writer, "wb") as out:
                pickle.dump(run, out)
        finally:
            os._exit(0)
    os.close(writer)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with os.fdopen(reader, "rb", buffering=0) as source:
        while chunk := _read(source, deadline):
            chunks.append(chunk)
        if chunk is None:
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if chunk is None or not chunks:
        raise AssertionError(f"the child took over {timeout} s or failed (status {status})")
    run: Run = pickle.loads(b"".join(chunks))
    return run


def _read(source: Any, deadline: float) -> bytes | None:
    """The next bytes from the child; b"" when it is done, None when time is up."""
    ready, _, _ = select.select([source], [], [], max(deadline - time.monotonic(), 0))
    return source.read(65536) if ready else None


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


JSON_VERSION = "https://jsonfeed.org/version/1.1"
GOOD_LINKS = ("http://news.example/a/1", "http://news.example/a/2")
FORMATTING = ("b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong")
FORMATTING += ("tt", "u")


# ------------------------------------------------------------------------------ feeds


def json_feed(items: list[object], **top: object) -> bytes:
    return json.dumps({"version": JSON_VERSION, "title": "Desk", **top, "items": items}).encode()


def good_json_items() -> list[object]:
    return [
        {"id": f"good-{n}", "url": link, "title": f"Good story {n}", "content_text": "Iran."}
        for n, link in enumerate(GOOD_LINKS, 1)
    ]


def json_with_link(link: str) -> bytes:
    """Two good items around one whose link is `link`."""
    first, second = good_json_items()
    bad = {"id": "bad", "url": link, "title": "Hostile link", "content_text": "Iran nuclear."}
    return json_feed([first, bad, second])


def json_with_base(base: str) -> bytes:
    """A feed whose own URL (the base of relative links) is `base`."""
    items = [*good_json_items(), {"id": "rel", "url": "/a/3", "title": "Relative link"}]
    return json_feed(items, feed_url=base)


def rss(entries: str, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{head}<rss version="2.0"><channel>'
        f"<title>Desk</title><link>http://news.example/</link>{entries}</channel></rss>"
    ).encode()


def rss_item(title: str, link: str, description: str = "A story.") -> str:
    link = link.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{title}</guid>"
        f"<description>{description}</description></item>"
    )


def rss_with_link(link: str) -> bytes:
    good = [rss_item(f"Good story {n}", url) for n, url in enumerate(GOOD_LINKS, 1)]
    return rss(good[0] + rss_item("Hostile link", link) + good[1])


def atom_with_base(base: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}"><title>Desk</title>'
        "<id>urn:desk</id><updated>2024-01-01T00:00:00Z</updated>"
        '<entry><title>Relative</title><id>urn:1</id><link href="/a/1"/>'
        "<updated>2024-01-01T00:00:00Z</updated></entry></feed>"
    ).encode()


def json_nested_arrays(depth: int) -> bytes:
    return b'{"version": "' + JSON_VERSION.encode() + b'", "items": ' + b"[" * depth


def json_nested_objects(depth: int) -> bytes:
    head = b'{"version": "' + JSON_VERSION.encode() + b'", "items": [{"id": "1", "title": '
    return head + b'{"a": ' * depth + b"1" + b"}" * depth + b"}]}"


def json_many_items(count: int) -> bytes:
    items = [
        {"id": str(n), "url": f"http://news.example/{n}", "title": f"t{n}"} for n in range(count)
    ]
    return json_feed(items)  # type: ignore[arg-type]


def json_empty_objects(size: int) -> bytes:
    """The most Python objects per byte a JSON Feed can make: `size` bytes of `{},`."""
    head = json_feed([])[:-2]
    return head + b"{}," * (size // 3) + b"{}]}"


def rss_many_items(count: int) -> bytes:
    return rss("".join(f"<item><title>t{n}</title><guid>{n}</guid></item>" for n in range(count)))


def atom_many_entries(count: int) -> bytes:
    entries = "".join(f"<entry><title>t{n}</title><id>urn:{n}</id></entry>" for n in range(count))
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Desk</title>'
        f"{entries}</feed>"
    ).encode()


def rss_deep_elements(depth: int) -> bytes:
    """Unknown XML elements nested `depth` deep inside one item (well-formed)."""
    return rss(rss_item("Good", GOOD_LINKS[0]) + "<item><title>Deep</title>" + "<x>" * depth
               + "</x>" * depth + "</item>")  # fmt: skip


def rss_unclosed_elements(depth: int) -> bytes:
    """`depth` unclosed elements: not well-formed, so feedparser's loose parser reads it."""
    return rss(rss_item("Good", GOOD_LINKS[0]) + "<item><title>Deep</title>" + "<x>" * depth)


def billion_laughs(levels: int = 10) -> bytes:
    entities = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, levels)
    )
    head = f"<!DOCTYPE rss [{entities}]>"
    return rss(rss_item("Good", GOOD_LINKS[0]) + rss_item(f"&l{levels - 1};", GOOD_LINKS[1]), head)


def quadratic_blowup(size: int, refs: int) -> bytes:
    head = f'<!DOCTYPE rss [<!ENTITY big "{"x" * size}">]>'
    return rss(rss_item("Good", GOOD_LINKS[0]) + rss_item("&big;" * refs, GOOD_LINKS[1]), head)


def rss_many_attributes(count: int) -> bytes:
    attrs = " ".join(f'a{n}="1"' for n in range(count))
    return rss(rss_item("Good", GOOD_LINKS[0]) + f"<item {attrs}><title>Attrs</title></item>")


def rss_description(html: str) -> bytes:
    """One good item and one whose description is `html` (escaped, as feeds carry it)."""
    escaped = html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return rss(rss_item("Good", GOOD_LINKS[0]) + rss_item("Hostile", GOOD_LINKS[1], escaped))


def loose_unterminated_quotes(count: int) -> bytes:
    """Not well-formed (so the loose parser reads it), with attribute quotes never closed."""
    return rss(rss_item("Good", GOOD_LINKS[0]) + '<item><title>x</title><a b="' + "<c " * count)


# ------------------------------------------------------------------------------ pages


def divs(depth: int) -> str:
    return "<div>" * depth


def stray_closers(count: int, opener: str = "div", closer: str = "span") -> str:
    return f"<{opener}></{closer}>" * count


def blocked_closers(count: int) -> str:
    """`</span>` cannot close the span when a div (a special element) is open inside it."""
    return "<span><div></span>" * count


def misnested_formatting(count: int) -> str:
    return "<b><i></b></i>x" * count


def nested_tables(count: int) -> str:
    return "<table><tr><td>" * count


def links_in_links(count: int) -> str:
    return "<a href=x>t" * count


def links_and_blocks(count: int) -> str:
    return "<a><div>" * count


def list_nesting(count: int) -> str:
    return "<ul><li>" * count


def definition_nesting(count: int) -> str:
    return "<dl><dt>" * count


def many_attributes(count: int) -> str:
    return "<div " + " ".join(f"a{n}" for n in range(count)) + ">text</div>"


def body_attributes(count: int) -> str:
    """Every later <body> tag merges its attributes into the body element."""
    return "<body>" + "".join(f"<body a{n}>" for n in range(count))


def distinct_formatting(count: int) -> str:
    """Each <p> closes the one before and its formatting element, and every one of them is
    rebuilt inside the next paragraph: quadratic nodes."""
    return "".join(f"<p><font color={n}>x" for n in range(count))


def reopened_formatting(count: int) -> str:
    """The 39 formatting elements the parser keeps (3 of each), rebuilt in every paragraph."""
    opened = "".join(f"<{name}>" * 3 for name in FORMATTING)
    return "<p>" + opened + "<p>x" * count


def noahs_ark(count: int) -> str:
    return "".join(f"<b id={n}>" for n in range(count))


def walk_at_depth(depth: int, count: int) -> str:
    """Each block start tag looks down the whole stack for a <p> to close."""
    return "<div>" * depth + "<div></div>" * count


def stray_end_at_depth(depth: int, count: int) -> str:
    return "<span>" * depth + "</zzz>" * count


def foreign_end_at_depth(depth: int, count: int) -> str:
    return "<svg>" + "<g>" * depth + "</zzz>" * count


def selects(count: int) -> str:
    return "<select>" * count


def templates(count: int) -> str:
    return "<template>" * count


def json_ld_brackets(depth: int) -> str:
    return '<script type="application/ld+json">' + "[" * depth + "</script><p>Text.</p>"


def json_ld_deep_headline(depth: int) -> str:
    """Valid JSON-LD an article whose headline is nested `depth` lists deep."""
    headline = "[" * depth + '"Deep"' + "]" * depth
    ld = f'{{"@type": "NewsArticle", "headline": {headline}}}'
    return f'<script type="application/ld+json">{ld}</script><p>Text.</p>'


def malformed_urls_page(url: str) -> str:
    return (
        f'<html><head><link rel="canonical" href="{url}"><meta property="og:url" content="{url}">'
        f'<meta property="og:image" content="{url}"></head><body><article>'
        + "<p>The harbour reopened on Monday after the storms closed it for a week.</p>" * 5
        + "</article></body></html>"
    )


PAGES: dict[str, Callable[[], str]] = {
    "div x200k": lambda: divs(200_000),
    "<div></span> x200k": lambda: stray_closers(200_000),
    "<span><div></span> x100k": lambda: blocked_closers(100_000),
    "<b><i></b></i> x200k": lambda: misnested_formatting(200_000),
    "nested tables x200k": lambda: nested_tables(200_000),
    "<a> in <a> x200k": lambda: links_in_links(200_000),
    "<a><div> x100k": lambda: links_and_blocks(100_000),
    "<ul><li> x100k": lambda: list_nesting(100_000),
    "<dl><dt> x100k": lambda: definition_nesting(100_000),
    "100k attributes": lambda: many_attributes(100_000),
    "<body aN> x50k": lambda: body_attributes(50_000),
    "<p><font color=N> x5k": lambda: distinct_formatting(5_000),
    "39 formatting, <p>x x200k": lambda: reopened_formatting(200_000),
    "<b id=N> x100k": lambda: noahs_ark(100_000),
    "<div>x10k + <div></div> x400k": lambda: walk_at_depth(10_000, 400_000),
    "<span>x10k + </zzz> x400k": lambda: stray_end_at_depth(10_000, 400_000),
    "<svg><g>x10k + </zzz> x400k": lambda: foreign_end_at_depth(10_000, 400_000),
    "<select> x500k": lambda: selects(500_000),
    "<template> x500k": lambda: templates(500_000),
    "JSON-LD [ x1M": lambda: json_ld_brackets(1_000_000),
    "JSON-LD headline 900 deep": lambda: json_ld_deep_headline(900),
    "canonical http://[x/": lambda: malformed_urls_page("http://[x/"),
    "canonical port 99999": lambda: malformed_urls_page("http://news.example:99999/a"),
}

DESCRIPTIONS: dict[str, Callable[[], str]] = {
    "div x200k": lambda: divs(200_000) + "text",
    "<div></span> x200k": lambda: stray_closers(200_000) + "text",
    "<p><font color=N> x5k": lambda: distinct_formatting(5_000),
    "100k attributes": lambda: many_attributes(100_000),
}

FEEDS: dict[str, Callable[[], bytes]] = {
    "JSON link http://[x/": lambda: json_with_link("http://[x/"),
    "JSON link port 99999": lambda: json_with_link("http://news.example:99999/a"),
    "JSON link with control chars": lambda: json_with_link("http://news.example/a\x00\x07b"),
    "JSON feed_url http://[x/": lambda: json_with_base("http://[x/"),
    "RSS link http://[x/": lambda: rss_with_link("http://[x/"),
    "Atom xml:base http://[x/": lambda: atom_with_base("http://[x/"),
    "JSON [ x200k": lambda: json_nested_arrays(200_000),
    'JSON {"a": x200k': lambda: json_nested_objects(200_000),
    "JSON 300k items": lambda: json_many_items(300_000),
    "JSON {} x20 MB": lambda: json_empty_objects(20_000_000),
    "RSS 300k items": lambda: rss_many_items(300_000),
    "Atom 300k entries": lambda: atom_many_entries(300_000),
    "XML elements 200k deep": lambda: rss_deep_elements(200_000),
    "XML 200k unclosed (loose parser)": lambda: rss_unclosed_elements(200_000),
    "billion laughs": lambda: billion_laughs(),
    "quadratic blowup 100 KB x 100k": lambda: quadratic_blowup(100_000, 100_000),
    "XML 100k attributes": lambda: rss_many_attributes(100_000),
    "loose: unclosed quote + <c x200k": lambda: loose_unterminated_quotes(200_000),
    "description div x200k": lambda: rss_description(divs(200_000) + "text"),
    "description <div></span> x200k": lambda: rss_description(stray_closers(200_000)),
}

CHARSET_LABELS = ("base64", "rot13", "hex", "zlib", "idna", "undefined", "utf-7", "bz2")
CHARSET_LABELS += ("uu", "quopri", "punycode", "unicode_escape", "utf-8-sig", "x-user-defined")
CHARSET_LABELS += ("replacement", "hz-gb-2312", "cp037", "utf_32")


def charset_page(label: str, where: str) -> tuple[bytes, str | None]:
    body = b"<html><head>"
    if where == "meta":
        body += f'<meta charset="{label}">'.encode()
    body += b"</head><body><p>Caf\xc3\xa9 owners reopened on Monday.</p></body></html>"
    return body, (f"text/html; charset={label}" if where == "header" else "text/html")
