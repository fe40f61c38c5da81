"""Feed documents -> Items. RSS 0.9x/1.0/2.0 and Atom through feedparser; JSON Feed by hand.

Item identity (``Item.key``) is what keeps alerts from repeating, so it must survive a
restart, an edited title and a re-ordered feed:

1. the entry's GUID / Atom id / JSON Feed id  -> ``id:<value>``
2. else its link, canonicalised (scheme and host lower-cased, fragment and tracking
   parameters such as ``utm_*`` dropped)        -> ``link:<url>``
3. else a hash of its content, summary or title -> ``hash:<sha256>``
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from monitor.errors import ParseError
from monitor.models import Item

_TRACKING = re.compile(
    r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_medium|at_campaign)$"
)
_BLOCKS = "p, div, li, h1, h2, h3, h4, h5, h6, blockquote, pre, tr, section, article, figure, br"
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")


def canonical_url(url: str) -> str:
    """A link in one spelling: lower-case scheme and host, no fragment, no tracking params."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        ]
    )
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (
        parts.scheme == "https" and netloc.endswith(":443")
    ):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, with a blank line between block elements."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    tree = LexborHTMLParser(f"<body>{html}</body>")
    body = tree.body
    if body is None:
        return ""
    for node in body.css("script, style, noscript, template"):
        node.decompose()
    for node in body.css(_BLOCKS):
        node.insert_before("\n\n")
        node.insert_after("\n\n")
    return _tidy(body.text(deep=True, separator=""))


def _tidy(text: str) -> str:
    paragraphs = (_WS.sub(" ", p).strip() for p in re.split(r"\n\s*\n|\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def _hash_key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"hash:{digest[:32]}"


def _item_key(guid: str | None, link: str | None, content: str, summary: str, title: str) -> str:
    if guid and guid.strip():
        return f"id:{guid.strip()}"
    if link:
        return f"link:{canonical_url(link)}"
    return _hash_key(content or summary or title)


def _date(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6]).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_feed(body: bytes, *, feed: str, url: str, content_type: str | None = None) -> list[Item]:
    """Items of one feed document, in document order. Raises ParseError if it isn't a feed."""
    head = body.lstrip()[:1]
    if head == b"{" or (content_type and "json" in content_type):
        return _parse_json_feed(body, feed=feed, url=url)
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    except Exception as e:  # feedparser raises arbitrary errors on hostile input
        raise ParseError("feed could not be parsed", url) from e
    entries = parsed.get("entries") or []
    if not parsed.get("version") and not entries:
        problem = parsed.get("bozo_exception")
        raise ParseError(
            "not an RSS, Atom or JSON feed" + (f" ({problem})" if problem else ""),
            url,
            hint="check the URL in feeds.yaml points at the feed, not a web page",
        )
    base = parsed.get("href") or url
    return [_entry_item(e, feed=feed, base=base) for e in entries]


def _entry_item(entry: Mapping[str, Any], *, feed: str, base: str) -> Item:
    title = html_to_text(str(entry.get("title") or "")).replace("\n\n", " ")
    link = entry.get("link") or None
    if link:
        link = urljoin(base, str(link).strip())
    summary = html_to_text(str(entry.get("summary") or ""))
    contents = entry.get("content") or []
    content = "\n\n".join(html_to_text(str(c.get("value") or "")) for c in contents).strip()
    if content == summary:
        summary = ""
    guid = entry.get("id") or entry.get("guid")
    published = _date(entry.get("published_parsed")) or _date(entry.get("updated_parsed"))
    return Item(
        key=_item_key(str(guid) if guid else None, link, content, summary, title),
        feed=feed,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=published,
        author=str(entry.get("author")) if entry.get("author") else None,
    )


def _parse_json_feed(body: bytes, *, feed: str, url: str) -> list[Item]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError("JSON feed is not valid JSON", url) from e
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)", url)
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed has no items list", url)
    base = str(data.get("feed_url") or data.get("home_page_url") or url)
    return [_json_item(i, feed=feed, base=base) for i in _dicts(items)]


def _dicts(values: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    return (v for v in values if isinstance(v, dict))


def _json_item(entry: Mapping[str, Any], *, feed: str, base: str) -> Item:
    link = entry.get("url") or entry.get("external_url")
    link = urljoin(base, str(link)) if link else None
    content = html_to_text(str(entry.get("content_html") or "")) or _tidy(
        str(entry.get("content_text") or "")
    )
    summary = _tidy(str(entry.get("summary") or ""))
    title = _tidy(str(entry.get("title") or "")).replace("\n\n", " ")
    authors = [a.get("name") for a in _dicts(entry.get("authors") or []) if a.get("name")]
    author = entry.get("author")
    if not authors and isinstance(author, dict) and author.get("name"):
        authors = [author["name"]]
    guid = entry.get("id")
    return Item(
        key=_item_key(str(guid) if guid is not None else None, link, content, summary, title),
        feed=feed,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_iso_date(entry.get("date_published")) or _iso_date(entry.get("date_modified")),
        author=", ".join(str(a) for a in authors) or None,
    )
