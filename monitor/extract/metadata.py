"""Article metadata from JSON-LD (schema.org NewsArticle and kin), OpenGraph, meta tags and
`<time>` elements. JSON-LD wins, then OpenGraph/meta, then what the markup shows."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from ..tagsoup import unmark

# A search for literal words: no repetition, nothing to backtrack into.
_ARTICLE_TYPE = re.compile(r"article|posting|report|story|review", re.IGNORECASE)
# A match starts only where a run of spaces does (the lookbehind), and the possessive run is
# never given back, so each run is read once: linear in the title.
_TITLE_SEPARATORS = re.compile(r"(?<!\s)\s++[|\-–—:·•»]\s+")
# Anchored at the start, fixed widths: at most 19 characters read.
_ISO_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?")
_MAX_JSONLD_CHARS = 2_000_000
_MAX_LIST_DEPTH = 32  # a JSON-LD value nested deeper in lists than this is not read
_META_NAMES = ("property", "name", "itemprop", "http-equiv")  # the attributes naming a <meta>
_HEAD_SELECTOR = 'meta, script[type="application/ld+json"], title, link[rel="canonical"]'


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str = ""
    body: str = ""  # JSON-LD articleBody, when the page carries one
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    language: str | None = None
    canonical_url: str | None = None
    description: str | None = None
    image: str | None = None


def parse_date(value: str) -> datetime | None:
    """An ISO 8601 or RFC 2822 date as a timezone-aware datetime (naive times are UTC)."""
    value = value.strip()
    if not value:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            match = _ISO_PREFIX.match(value)
            if match is None:
                return None
            try:
                parsed = datetime.fromisoformat(match.group(0))
            except ValueError:
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _walk_json(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a JSON-LD document, iteratively (through @graph and lists)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _is_article(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and _ARTICLE_TYPE.search(k) for k in kinds)


def _text(value: Any) -> str:
    """The text a JSON-LD value stands for: a string, an object's name (or url, @id,
    @value), or the first item of a list (lists are unwrapped, not recursed into)."""
    for _ in range(_MAX_LIST_DEPTH):
        if not isinstance(value, list) or not value:
            break
        value = value[0]
    if isinstance(value, str):
        return html.unescape(value).strip()
    if isinstance(value, dict):
        for key in ("name", "url", "@id", "@value"):
            if isinstance(value.get(key), str):
                return str(value[key]).strip()
    return ""


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    names = (_text(v) for v in items)
    return tuple(n for n in names if n and not n.startswith("http"))


@dataclass(slots=True)
class _Head:
    """What one query collects: the best JSON-LD article, meta tags, <title>, canonical link."""

    ld: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    title: str = ""
    canonical: str = ""


def _json_ld_article(raw: str) -> dict[str, Any]:
    """The most article-like object in one JSON-LD script (empty if none)."""
    if len(raw) > _MAX_JSONLD_CHARS:
        return {}
    try:
        doc = json.loads(raw, strict=False)
    except (ValueError, RecursionError):
        return {}
    articles = (obj for obj in _walk_json(doc) if _is_article(obj))
    return max(articles, key=len, default={})


def _collect(parser: LexborHTMLParser) -> _Head:
    head = _Head()
    meta = head.meta
    for node in parser.css(_HEAD_SELECTOR):
        tag = node.tag
        if tag == "meta":
            attrs = node.attributes
            content = attrs.get("content")
            if content:
                content = content.strip()
                for key in _META_NAMES:
                    if name := attrs.get(key):
                        meta.setdefault(name.strip().lower(), content)
        elif tag == "script":
            article = _json_ld_article(node.text(deep=True))
            if len(article) > len(head.ld):
                head.ld = article
        elif tag == "title":
            head.title = head.title or node.text(strip=True)
        elif tag == "link":
            head.canonical = head.canonical or (node.attributes.get("href") or "").strip()
    return head


def _first(*values: str | None) -> str:
    return next((v for v in values if v), "")


def _clean_title(title: str, site_names: tuple[str, ...]) -> str:
    """Drop a " | Site Name" style suffix or prefix from a <title>."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) == 1:
        return title
    lowered = {s.lower() for s in site_names if s}
    kept = [p for p in parts if p.lower() not in lowered]
    if len(kept) < len(parts) and kept:
        return " - ".join(kept)
    return max(parts, key=len)


_DATE_KEYS = (
    "article:published_time", "og:article:published_time", "datepublished",
    "article.published", "published_time", "publish-date", "pubdate", "publishdate",
    "parsely-pub-date", "sailthru.date", "dc.date.issued", "dc.date", "dcterms.created",
    "date", "og:updated_time", "article:modified_time", "datemodified",
)  # fmt: skip


def _published(
    ld: dict[str, Any], meta: dict[str, str], parser: LexborHTMLParser
) -> datetime | None:
    candidates = [_text(ld.get("datePublished")), _text(ld.get("dateCreated"))]
    candidates += [meta.get(k, "") for k in _DATE_KEYS]
    for value in candidates:
        if value and (date := parse_date(value)) is not None:
            return date
    for node in parser.css("time[datetime]"):
        if (date := parse_date(node.attributes.get("datetime") or "")) is not None:
            return date
    return None


def _title(head: _Head, parser: LexborHTMLParser) -> str:
    title = _first(_text(head.ld.get("headline")), head.meta.get("og:title"))
    title = title or head.meta.get("twitter:title", "")
    if not title and (h1 := parser.css_first("h1")) is not None:
        title = h1.text(strip=True)
    if not title:
        site = (head.meta.get("og:site_name", ""), head.meta.get("application-name", ""))
        title = _clean_title(head.title, site)
    return " ".join(title.split())


def extract_metadata(parser: LexborHTMLParser) -> Metadata:
    head = _collect(parser)
    ld, meta = head.ld, head.meta
    authors = _names(ld.get("author")) or _names(ld.get("creator"))
    if not authors:
        authors = _names(
            _first(meta.get("author"), meta.get("article:author"), meta.get("parsely-author"))
        )
    root = parser.root
    language = _first(
        _text(ld.get("inLanguage")),
        root.attributes.get("lang") if root is not None else None,
        meta.get("content-language"),
        meta.get("og:locale"),
        meta.get("language"),
        meta.get("dc.language"),
    )
    body = ld.get("articleBody")
    description = _first(
        _text(ld.get("description")), meta.get("og:description"), meta.get("description")
    )
    image = _first(_text(ld.get("image")), meta.get("og:image"), meta.get("twitter:image"))
    return Metadata(  # text the parser passed over whole may hold rewritten tags: unmark
        title=unmark(_title(head, parser)),
        body=unmark(_text(body)) if isinstance(body, str) else "",
        published=_published(ld, meta, parser),
        authors=tuple(unmark(" ".join(a.split())) for a in authors),
        language=unmark(language) or None,
        canonical_url=unmark(_first(head.canonical, meta.get("og:url"))) or None,
        description=unmark(description) or None,
        image=unmark(image) or None,
    )
