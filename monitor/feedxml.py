"""An XML feed document bounded before feedparser reads a byte of it.

feedparser reads the whole document, spends about 30 microseconds on each element and
builds every entry (300,000 items: 83 s, 330 MB), so the document is cut first:

- UTF-16 and UTF-32 documents are re-encoded as UTF-8, so the byte scans below see tags.
- The DOCTYPE keeps only short plain entities (`<!ENTITY nbsp "&#160;">`). Entities that
  refer to others or hold long text are how "billion laughs" and quadratic blow-up
  documents expand a kilobyte into gigabytes; feedparser's own filter only sees
  declarations at the start of a line, and expat stops them only after 8 MiB.
- At most `max_items` entries (<item>, <entry>) are kept, the first in document order: the
  document is cut where the next one starts and closed with what follows its last entry
  (`</channel></rss>`). Entries are counted by their start tags; one inside a CDATA
  section counts too, so `cut` may be off by the few an odd feed hides there.
- At most MAX_XML_NODES elements and attributes are read: the entry in which that many is
  reached is cut with the ones after it.
- An element keeps its first MAX_XML_ATTRIBUTES attributes: xml.sax finds each attribute
  by a linear search, so the cost of an element is the square of its attribute count
  (100,000 attributes: over 120 s).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

MAX_XML_NODES = 100_000  # elements and attributes read per document (about 3 s)
MAX_XML_ATTRIBUTES = 32  # per element; the rest are dropped
MAX_ENTITY_CHARS = 16  # the longest entity value a DOCTYPE may keep
_MAX_TAIL_BYTES = 4096  # what may follow the last entry: the closing tags, a few elements

_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
# Anchored: one attempt, and the lazy run stops at the declaration's ">".
_DECLARED_ENCODING = re.compile(r"""\A(\s*<\?xml[^>]*?\sencoding\s*=\s*)(["'])[^"']*\2""")
_ELEMENT = re.compile(rb"<[A-Za-z_]")  # where the first element starts; fixed width
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)  # a literal
# A DOCTYPE with its internal subset: runs of plain characters, quoted strings and
# declarations, every repetition possessive, so a malformed one fails in one pass.
_DOCTYPE = re.compile(
    rb"<!DOCTYPE(?P<head>(?:[^\[>\"']++|\"[^\"]*+\"|'[^']*+')*+)"
    rb"(?:\[(?P<subset>(?:[^\]\"'<]++|\"[^\"]*+\"|'[^']*+'"
    rb"|<(?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+>)*+)\]\s*+)?>",
    re.IGNORECASE,
)
# One entity declaration in the subset: each run possessive and ended by a different byte.
_ENTITY = re.compile(
    rb"<!ENTITY\s++(?P<parameter>%\s++)?(?P<name>[^\s%\"'>]++)\s++"
    rb"(?P<value>\"[^\"]*+\"|'[^']*+')\s*+>"
)
# Fullmatched on at most MAX_ENTITY_CHARS bytes, bounded repetitions.
_CHARACTER_REFERENCE = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
# The XML tokens that matter for the bounds. Comments and CDATA end at their terminator or
# at the end of the document (the \Z branch always matches: nothing is scanned twice);
# attributes are XML's `name="value"`, every repetition possessive.
_TOKEN = re.compile(
    rb"<!--.*?(?:-->|\Z)"
    rb"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    rb"|<[!?/][^>]*+>?"
    rb"|<(?P<name>[A-Za-z_][^\s/>]*+)"
    rb"(?P<attrs>(?:\s++[^\s=/>]++\s*+=\s*+(?:\"[^\"]*+\"|'[^']*+'))*+)",
    re.DOTALL,
)
# One attribute, possessive like _TOKEN's (read only within a start tag's attributes).
_ATTRIBUTE = re.compile(rb"\s++[^\s=/>]++\s*+=\s*+(?:\"[^\"]*+\"|'[^']*+')")
_ENTRY_NAMES = frozenset({b"item", b"entry"})
# An entry's start or end tag: a possessive prefix, then literals.
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*+:)?(?:item|entry)[\s/>]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*+:)?(?:item|entry)>")


@dataclass(frozen=True)
class BoundedXml:
    body: bytes
    content_type: str | None
    cut: int  # entries left out


def bound_xml(body: bytes, content_type: str | None, max_items: int) -> BoundedXml:
    """`body` re-encoded, with a plain DOCTYPE, cut to `max_items` entries and the node and
    attribute budgets; `cut` is how many entries were left out."""
    body, content_type = _as_utf8(body, content_type)
    body, cut = _cut(_plain_doctype(body), max_items)
    return BoundedXml(body, content_type, cut)


def _as_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    codec = next((codec for start, codec in _WIDE if body.startswith(start)), None)
    if codec is None:
        return body, content_type
    text = _DECLARED_ENCODING.sub(r'\1"utf-8"', body.decode(codec, errors="replace"), count=1)
    media_type = (content_type or "application/xml").split(";", 1)[0]
    return text.encode("utf-8"), f"{media_type}; charset=utf-8"


def _plain_doctype(body: bytes) -> bytes:
    """`body` whose DOCTYPE declares only short plain entities (or no DOCTYPE if it is
    malformed)."""
    start = _DOCTYPE_START.search(body)
    if start is None or _ELEMENT.search(body, 0, start.start()):  # not in the prolog
        return body
    begin = start.start()
    doctype = _DOCTYPE.match(body, begin)
    if doctype is None:  # malformed: drop it up to the end of its subset (or its first ">")
        end = body.find(b"]>", begin)
        if end >= 0:
            end += 2
        else:
            end = body.find(b">", begin)
            end = end + 1 if end >= 0 else len(body)
        return body[:begin] + body[end:]
    entities = [
        entity.group()
        for entity in _ENTITY.finditer(doctype.group("subset") or b"")
        if entity.group("parameter") is None and _plain(entity.group("value")[1:-1])
    ]
    subset = b" [\n" + b"\n".join(entities) + b"\n]" if entities else b""
    return (
        body[:begin] + b"<!DOCTYPE" + doctype.group("head") + subset + b">" + body[doctype.end() :]
    )


def _plain(value: bytes) -> bool:
    if len(value) > MAX_ENTITY_CHARS or b"<" in value or b"%" in value:
        return False
    return b"&" not in value or _CHARACTER_REFERENCE.fullmatch(value) is not None


def _cut(body: bytes, max_items: int) -> tuple[bytes, int]:
    entries = nodes = 0
    entry_start = cut_at = -1
    trims: list[tuple[int, int]] = []  # attributes past the cap: (start, end) to drop
    for token in _TOKEN.finditer(body):
        name = token.group("name")
        if name is None:
            continue
        if name.rpartition(b":")[2] in _ENTRY_NAMES:
            if entries == max_items:
                cut_at = token.start()
                break
            entries += 1
            entry_start = token.start()
        start, end = token.span("attrs")
        attributes = body.count(b"=", start, end)  # at least the attribute count
        if attributes > MAX_XML_ATTRIBUTES:
            kept = _ATTRIBUTE.finditer(body, start, end)
            for _ in range(MAX_XML_ATTRIBUTES):
                start = next(kept).end()
            trims.append((start, end))
            attributes = MAX_XML_ATTRIBUTES
        nodes += 1 + attributes
        if nodes > MAX_XML_NODES:
            cut_at = entry_start if entries > 1 else token.start()
            break
    if cut_at < 0 and not trims:
        return body, 0
    pieces: list[bytes] = []
    last = 0
    for start, end in trims:
        pieces.append(body[last:start])
        last = end
    if cut_at < 0:
        pieces.append(body[last:])
        return b"".join(pieces), 0
    pieces.append(body[last:cut_at])
    pieces.append(_tail(body, cut_at))
    return b"".join(pieces), sum(1 for _ in _ENTRY_START.finditer(body, cut_at))


def _tail(body: bytes, cut_at: int) -> bytes:
    """What follows the last entry's end tag, if it is short: the tags that close the
    document. Without it the document ends cut, and feedparser reads it as best it can."""
    end = max(body.rfind(b"item>", cut_at), body.rfind(b"entry>", cut_at))
    if end < 0 or len(body) - end > _MAX_TAIL_BYTES:
        return b""
    start = body.rfind(b"</", cut_at, end)
    closing = _ENTRY_END.match(body, start) if start >= 0 else None
    return body[closing.end() :] if closing else b""
