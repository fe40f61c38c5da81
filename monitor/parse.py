"""Feed documents -> Items. RSS 0.9x/1.0/2.0 and Atom through feedparser; JSON Feed by hand.

Item identity (``Item.key``) is what keeps alerts from repeating, so it must survive a
restart, an edited title and a re-ordered feed:

1. the entry's GUID / Atom id / JSON Feed id  -> ``id:<value>``
2. else its link, canonicalised (see `canonical_url`: scheme and host lower-cased,
   tracking parameters such as ``utm_*`` and fragments that are not identity dropped)
                                                -> ``link:<url>``
3. else a hash of its content, summary or title -> ``hash:<sha256>``

A link that leads to the feed itself is no entry's own: the feed's URL, its xml:base (where
an empty ``href=""`` resolves) or its home page becomes None, so entries that write one stay
apart (see `_elsewhere`).

The feed's declared language (`ParsedFeed.language`, `Item.language`) and its caching hint
(`ParsedFeed.ttl`) are read by `feedmeta`.

HTML becomes plain text here (`html_to_text`: scripts, styles and markup dropped) and links
are resolved by `links.resolve_link`, so feedparser's sanitizer and its resolver of links
inside HTML are off (`sanitize_html=False, resolve_relative_uris=False`): they would only
rewrite markup that is thrown away, and cost about half of feedparser's CPU on the corpus
(tests/bench/feed_parse.py). feedparser still resolves
an entry's own link against xml:base, and `resolve_link` against the feed's URL.

Feeds are written by strangers, so reading one is bounded and every entry stands alone:

- The first `max_items` entries (MAX_ITEMS) in document order are read; feeds list the
  newest first. An XML document is cut before the rest is parsed (see `feedxml`); JSON Feed
  items past the cap are stepped over one at a time and never kept. `ParsedFeed.cut` says
  how many were left.
- A link that cannot be an http(s) URL (`http://[x/`, port 99999, control characters, a
  base it cannot be resolved against) becomes None, and the item is matched on the feed's
  own text. Any other failure converting one entry skips that entry; `ParsedFeed.skipped`
  counts them and `problems` keeps the first MAX_PROBLEMS reasons.
- Descriptions go through `tagsoup.defuse` before the HTML parser sees them.
- Only a document that is not a feed at all raises, and only `ParseError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from monitor.errors import ParseError
from monitor.feedmeta import feed_ttl, language_tag
from monitor.feedxml import bound_xml
from monitor.links import resolve_link
from monitor.models import Item, ParsedFeed
from monitor.tagsoup import defuse, unmark

MAX_ITEMS = 1_000  # entries read per document, the first in document order
MAX_PROBLEMS = 5  # reasons kept for the entries that could not be read
_PROBLEM_CHARS = 200

# A fullmatch of one alternation of literals: nothing to backtrack into.
_TRACKING_KEYS = (
    r"utm_[a-z]++|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_medium|at_campaign|xtor|ns_[a-z]++"
)
_TRACKING = re.compile(rf"^({_TRACKING_KEYS})$")
# A fragment of key=value pairs whose keys are all tracking: the query's, or keys that only
# say where a link was followed from. Those are tracking in a fragment (which no server
# sees); in a query they may choose a page or a branch, so they stay there. Fullmatched on
# the lower-cased fragment; every repetition possessive and each ends at a different
# character: linear.
_TRACKING_FRAGMENT = re.compile(
    rf"[&;]*+(?:(?:{_TRACKING_KEYS}|ref|referrer|src|source|from|via|rss|feed|share)"
    r"=[^&;]*+[&;]*+)*+"
)
# Fragments that name a part of every page, not a post: the top, the main text, the
# comments ("#comments", but "#comment-42" is one comment: kept), WordPress's "read more"
# anchor. Lower-cased before the lookup.
_NAVIGATION = frozenset(
    {"top", "content", "main", "main-content", "maincontent", "article", "comments"}
    | {"respond", "disqus_thread", "more", "continue", "read-more", "readmore"}
)
_MORE = re.compile(r"more-[0-9]++")  # fullmatched, possessive; WordPress's "#more-1234"
# Share-button and publisher tracking: AddThis ("#.VxY2aBcD", "#.VxY2aBcD.twitter"),
# ShareThis ("#sthash.AbC123xy.dpuf"), IDG ("#tk.rss_all"). Fullmatched on the lower-cased
# fragment; every run possessive, so a long near-miss fails without backtracking.
_SHARE_TRACKING = re.compile(
    r"(?:\.[a-z0-9_-]{6,}+|sthash\.[a-z0-9_-]++|tk\.[a-z0-9_-]++)(?:\.[a-z0-9_-]++)?+"
)
_BLOCKS = "p, div, li, h1, h2, h3, h4, h5, h6, blockquote, pre, tr, section, article, figure, br"
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")  # one character class: linear
# At a "\n", `\s*` takes the whole run of white space and gives back to its last "\n": one
# pass over the run, and a run is read from its first "\n" only. Linear.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")
_JSON_SPACE = re.compile(r"[ \t\n\r]+")  # one character class: linear
_JSON = json.JSONDecoder()
# A UTF-8 BOM, then white space: matched at the start only, one class: linear.
_LEADING = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")


def canonical_url(url: str) -> str:
    """A link in one spelling, for identity (item keys, article ids, cross-feed merging):
    lower-case scheme and host, no default port, tracking parameters dropped from the query,
    and the fragment kept only when it is identity.

    A fragment is identity when it names one post on a page that holds several (Scripting
    News's ``/2017/06/21.html#a020637``, a live blog's ``#post-5``, ``#comment-42``, a
    ``#!/story/1`` route). It is dropped when it is not:

    - empty (``#``);
    - key=value pairs (split at ``&`` or ``;``) whose keys are all tracking keys: the
      query's (``utm_*``, ``xtor``, ``ns_*``, ...) or the fragment-only ``ref``, ``src``,
      ``source``, ``from``, ``via``, ``rss``, ``feed``, ``share`` (``#xtor=RSS-3``,
      ``#ref=rss``);
    - a part of every page: ``#top``, ``#content``, ``#main``, ``#article``, ``#comments``,
      ``#respond``, ``#disqus_thread``, ``#more``, ``#more-1234`` (case-insensitive);
    - share-button and publisher tracking: AddThis (``#.VxY2aBcD``), ShareThis
      (``#sthash.AbC123xy.dpuf``), IDG (``#tk.rss_all``, Macworld's feed).
    """
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
    fragment = parts.fragment if is_identity_fragment(parts.fragment) else ""
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, fragment))


def is_identity_fragment(fragment: str) -> bool:
    """Whether a link's fragment (without its "#") names something of its own on the page
    (see `canonical_url` for what does not)."""
    if not fragment:
        return False
    lowered = fragment.lower()
    if lowered in _NAVIGATION or _MORE.fullmatch(lowered) or _SHARE_TRACKING.fullmatch(lowered):
        return False
    return _TRACKING_FRAGMENT.fullmatch(lowered) is None


def points_into_page(link: str | None) -> bool:
    """Whether `link` names one post on a page that may hold several: its fragment is
    identity. The page's text is then not the item's own."""
    if not link:
        return False
    try:
        fragment = urlsplit(link).fragment
    except ValueError:
        return False
    return is_identity_fragment(fragment)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, with a blank line between block elements."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    tree = LexborHTMLParser(defuse(f"<body>{html}</body>"))
    body = tree.body
    if body is None:
        return ""
    for node in body.css("script, style, noscript, template"):
        node.decompose()
    for node in body.css(_BLOCKS):
        node.insert_before("\n\n")
        node.insert_after("\n\n")
    return _tidy(unmark(body.text(deep=True, separator="")))


def _tidy(text: str) -> str:
    paragraphs = (_WS.sub(" ", p).strip() for p in _PARAGRAPH_BREAK.split(text))
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


# One character class, no repetition: linear. JSON can carry lone surrogates ("\ud800"),
# which no UTF-8 store or payload accepts.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: Any) -> str:
    """A text field as the document gave it (a lone surrogate becomes U+FFFD); anything but a
    string counts as absent."""
    if not isinstance(value, str):
        return ""
    return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)


def parse_feed(
    body: bytes,
    *,
    feed: str,
    url: str,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
) -> ParsedFeed:
    """The items of one feed document, in document order (at most `max_items`).

    Raises ParseError, and only ParseError, if the document is not a feed."""
    leading = _LEADING.match(body)
    start = leading.end() if leading else 0
    if body[start : start + 1] == b"{" or (content_type and "json" in content_type):
        return _parse_json_feed(body, feed=feed, url=url, max_items=max_items)
    return _parse_xml_feed(body, feed=feed, url=url, content_type=content_type, max_items=max_items)


def _parse_xml_feed(
    body: bytes, *, feed: str, url: str, content_type: str | None, max_items: int
) -> ParsedFeed:
    bounded = bound_xml(body, content_type, max_items)
    headers = {"content-type": bounded.content_type} if bounded.content_type else {}
    try:
        parsed = feedparser.parse(
            bounded.body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
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
    cut = bounded.cut + max(len(entries) - max_items, 0)
    channel = parsed.get("feed")
    if not isinstance(channel, Mapping):
        channel = {}
    title = channel.get("title_detail")
    if not isinstance(title, Mapping):
        title = {}
    return _items(
        entries[:max_items],
        partial(_entry_item, scope=title.get("language")),
        feed=feed,
        base=url,
        cut=cut,
        elsewhere=_elsewhere(url, title.get("base"), channel.get("link")),
        language=language_tag(channel.get("language")),
        ttl=feed_ttl(
            channel.get("ttl"), channel.get("sy_updateperiod"), channel.get("sy_updatefrequency")
        ),
    )


def _items(
    entries: Sequence[Any],
    convert: Callable[..., Item],
    *,
    feed: str,
    base: str,
    cut: int,
    elsewhere: frozenset[str],
    language: str | None,
    ttl: float | None = None,
) -> ParsedFeed:
    """Each entry converted on its own: one that cannot be is skipped with its reason."""
    items: list[Item] = []
    problems: list[str] = []
    skipped = 0
    for number, entry in enumerate(entries, 1):
        try:
            if not isinstance(entry, Mapping):
                raise TypeError(f"an entry must be an object, not {type(entry).__name__}")
            items.append(
                convert(entry, feed=feed, base=base, elsewhere=elsewhere, language=language)
            )
        except Exception as e:  # a backstop: one entry's failure is that entry's alone
            skipped += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"entry {number}: {type(e).__name__}: {e}"[:_PROBLEM_CHARS])
    return ParsedFeed(
        items=items,
        cut=cut,
        skipped=skipped,
        problems=tuple(problems),
        language=language,
        ttl=ttl,
    )


def _elsewhere(*urls: object) -> frozenset[str]:
    """The links that lead to the feed itself, not to one of its items: the feed's URL, the
    xml:base it declares, its home page. An entry written with an empty link (`href=""`,
    which resolves to its base) or linking to the home page has no page of its own, and
    taking that link would make all such entries one story."""
    return frozenset(canonical_url(u) for u in urls if isinstance(u, str) and u.strip())


def _own_link(
    written: str | None, base: str, elsewhere: frozenset[str]
) -> tuple[str | None, str | None]:
    """The entry's link resolved (see `links.resolve_link`), and what its key may use: that
    link, else the link as written. Both None when the link is not the entry's own (see
    `_elsewhere`)."""
    link = resolve_link(written, base)
    if link is not None and canonical_url(link) in elsewhere:
        return None, None
    return link, link or written


def _entry_language(
    entry: Mapping[str, Any], feed_language: str | None, scope: object
) -> str | None:
    """The entry's own declared language: its dc:language, else the xml:lang in force on its
    content, summary or title when that is not the one in force on the feed's title (then
    it was inherited, and the feed's declaration stands); else the feed's language."""
    declared = language_tag(entry.get("language"))
    if declared:
        return declared
    contents = entry.get("content")
    details = (
        contents[0] if isinstance(contents, list) and contents else None,
        entry.get("summary_detail"),
        entry.get("title_detail"),
    )
    for detail in details:
        if isinstance(detail, Mapping):
            lang = detail.get("language")
            if lang and lang != scope and (tag := language_tag(lang)):
                return tag
    return feed_language


def _entry_item(
    entry: Mapping[str, Any],
    *,
    feed: str,
    base: str,
    elsewhere: frozenset[str],
    language: str | None,
    scope: object,
) -> Item:
    title = html_to_text(_string(entry.get("title"))).replace("\n\n", " ")
    written = _string(entry.get("link")).strip() or None
    link, identity = _own_link(written, base, elsewhere)
    summary = html_to_text(_string(entry.get("summary")))
    contents = entry.get("content") or []
    content = "\n\n".join(
        html_to_text(_string(c.get("value"))) for c in contents if isinstance(c, Mapping)
    ).strip()
    if content == summary:
        summary = ""
    guid = _string(entry.get("id")) or _string(entry.get("guid"))
    published = _date(entry.get("published_parsed")) or _date(entry.get("updated_parsed"))
    return Item(
        key=_item_key(guid or None, identity, content, summary, title),
        feed=feed,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=published,
        author=_string(entry.get("author")) or None,
        language=_entry_language(entry, language, scope),
    )


# --------------------------------------------------------------------------- JSON Feed


def _parse_json_feed(body: bytes, *, feed: str, url: str, max_items: int) -> ParsedFeed:
    try:
        members, items, cut = _read_json_feed(body.decode("utf-8-sig"), max_items)
    except RecursionError as e:
        raise ParseError("JSON feed is nested too deeply", url) from e
    except ValueError as e:  # also UnicodeDecodeError and json.JSONDecodeError
        raise ParseError("JSON feed is not valid JSON", url) from e
    version = members.get("version")
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)", url)
    if items is None:
        raise ParseError("JSON Feed has no items list", url)
    base = _string(members.get("feed_url")) or _string(members.get("home_page_url")) or url
    return _items(
        items,
        _json_item,
        feed=feed,
        base=base,
        cut=cut,
        elsewhere=_elsewhere(url, members.get("feed_url"), members.get("home_page_url")),
        language=language_tag(members.get("language")),
    )


def _read_json_feed(text: str, max_items: int) -> tuple[dict[str, Any], list[Any] | None, int]:
    """A JSON Feed read member by member: its "version", "feed_url", "home_page_url" and
    "language", the first `max_items` of its items, and how many items came after them.
    Items are decoded one at a time and those past the cap are dropped at once, so memory
    holds one item beyond the ones kept. Raises ValueError where the text is not JSON."""
    pos = _space(text, 0)
    if text[pos : pos + 1] != "{":
        value, pos = _JSON.raw_decode(text, pos)  # valid JSON, but not an object
        if _space(text, pos) != len(text):
            raise ValueError(f"extra data at character {pos}")
        return {}, None, 0
    members: dict[str, Any] = {}
    items: list[Any] | None = None
    cut = 0
    pos = _space(text, pos + 1)
    more = text[pos : pos + 1] != "}"
    if not more:
        pos += 1
    while more:
        if text[pos : pos + 1] != '"':
            raise ValueError(f"expected a member name at character {pos}")
        name, pos = _JSON.raw_decode(text, pos)
        pos = _space(text, pos)
        if text[pos : pos + 1] != ":":
            raise ValueError(f"expected ':' at character {pos}")
        pos = _space(text, pos + 1)
        if name == "items" and text[pos : pos + 1] == "[":
            items, cut, pos = _read_items(text, pos + 1, max_items)
        else:
            value, pos = _JSON.raw_decode(text, pos)
            if name in ("version", "feed_url", "home_page_url", "language"):
                members[name] = value
        pos = _space(text, pos)
        separator = text[pos : pos + 1]
        if separator not in (",", "}"):
            raise ValueError(f"expected ',' or '}}' at character {pos}")
        more = separator == ","
        pos = _space(text, pos + 1) if more else pos + 1
    if _space(text, pos) != len(text):
        raise ValueError(f"extra data at character {pos}")
    return members, items, cut


def _read_items(text: str, pos: int, max_items: int) -> tuple[list[Any], int, int]:
    """The items array from just after its "[": the first `max_items` items, how many
    followed, and where the array ends."""
    items: list[Any] = []
    count = 0
    pos = _space(text, pos)
    if text[pos : pos + 1] == "]":
        return items, 0, pos + 1
    while True:
        value, pos = _JSON.raw_decode(text, pos)
        if count < max_items:
            items.append(value)
        count += 1
        separator = text[pos : pos + 1]
        if separator not in (",", "]"):
            pos = _space(text, pos)
            separator = text[pos : pos + 1]
        if separator == "]":
            return items, count - len(items), pos + 1
        if separator != ",":
            raise ValueError(f"expected ',' or ']' at character {pos}")
        pos = _space(text, pos + 1)


def _space(text: str, pos: int) -> int:
    """Where the JSON white space from `pos` ends."""
    found = _JSON_SPACE.match(text, pos)
    return found.end() if found else pos


def _objects(values: Any) -> Iterable[Mapping[str, Any]]:
    return (v for v in values if isinstance(v, dict)) if isinstance(values, list) else ()


def _json_item(
    entry: Mapping[str, Any],
    *,
    feed: str,
    base: str,
    elsewhere: frozenset[str],
    language: str | None,
) -> Item:
    written = _string(entry.get("url")) or _string(entry.get("external_url")) or None
    link, identity = _own_link(written, base, elsewhere)
    content = html_to_text(_string(entry.get("content_html"))) or _tidy(
        _string(entry.get("content_text"))
    )
    summary = _tidy(_string(entry.get("summary")))
    title = _tidy(_string(entry.get("title"))).replace("\n\n", " ")
    authors = [_string(a.get("name")) for a in _objects(entry.get("authors"))]
    author = entry.get("author")
    if not any(authors) and isinstance(author, dict):
        authors = [_string(author.get("name"))]
    guid = entry.get("id")
    if isinstance(guid, bool) or not isinstance(guid, str | int | float):
        guid = None
    elif isinstance(guid, str):
        guid = _string(guid)
    return Item(
        key=_item_key(str(guid) if guid is not None else None, identity, content, summary, title),
        feed=feed,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_iso_date(entry.get("date_published")) or _iso_date(entry.get("date_modified")),
        author=", ".join(a for a in authors if a) or None,
        language=language_tag(entry.get("language")) or language,
    )
