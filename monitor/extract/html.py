"""Parse HTML and flatten the page into blocks of text, each tied to the element holding it.

The walk is iterative (a page nested 10,000 levels deep costs a list, not the C stack) and
visits every node once; later stages work on the flat `Page` without touching the DOM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

# Elements whose content is never article text.
SKIP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
        "canvas", "head", "select", "option", "textarea", "input", "button", "video", "audio",
        "map", "link", "meta", "title", "dialog", "picture", "img", "source",
    }
)  # fmt: skip

# Elements that start a new block of text (everything else flows inline).
BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
        "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "blockquote", "pre",
        "figure", "figcaption", "form", "fieldset", "legend", "hr", "address", "details",
        "summary", "center", "body", "html", "hgroup", "menu",
    }
)  # fmt: skip

_BREAK = "\ue000"  # a line break inside a block (<br>, or a newline inside <pre>)
MAX_HTML_CHARS = 5_000_000  # the rest of a bigger page is not read
MAX_DEPTH = 12_000  # lexbor's tree building slows down with the square of the nesting depth
MAX_NODES = 400_000  # the walk stops here: no article needs more
_DEEP_SCAN_TAGS = 15_000  # pages with fewer tags than this cannot nest deeper than MAX_DEPTH
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
# Elements that never nest (void) or close themselves: they do not deepen the tree.
_FLAT_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
        "thead", "tbody", "tfoot", "colgroup", "rb", "rt", "rp",
    }
)  # fmt: skip
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


@dataclass(slots=True)
class Element:
    """One block-level element: where it sits and the attributes that hint at its role."""

    tag: str
    parent: int  # index into Page.elements, -1 for the walk's root
    hints: str  # class, id, role and itemprop, lower-cased and space-separated


@dataclass(slots=True)
class Block:
    """A run of text between block boundaries, owned by its innermost block-level element."""

    element: int
    text: str
    link_chars: int


@dataclass(slots=True)
class Page:
    elements: list[Element] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


def bounded(html: str) -> str:
    """The part of `html` worth parsing: at most MAX_HTML_CHARS, and cut where the tags nest
    deeper than MAX_DEPTH (only pages with very many tags are scanned)."""
    html = html[:MAX_HTML_CHARS]
    if html.count("<") < _DEEP_SCAN_TAGS:
        return html
    depth = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _FLAT_TAGS:
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > MAX_DEPTH:
                return html[: match.start()]
    return html


def _hints(attrs: dict[str, str | None]) -> str:
    hints = [v for k in ("class", "id", "role", "itemprop") if (v := attrs.get(k))]
    return " ".join(hints).lower() if hints else ""


def _hidden(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _clean(text: str) -> str:
    if _BREAK not in text:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


_BLOCK, _LINK, _SKIP, _PRE = 1, 2, 4, 8  # what closing an open element has to undo


def flatten(root: LexborNode) -> Page:
    """Turn the tree under `root` into elements and text blocks, in document order.

    The walk is lexbor's own depth-first traversal. Each open element remembers the node
    that comes right after its subtree (its next sibling, or what comes after its parent);
    reaching that node closes it. No recursion, and few property reads per node: this loop
    is where extraction spends its time.
    """
    page = Page()
    elements, blocks = page.elements, page.blocks
    fragments: list[str] = []  # text since the last block boundary
    link_chars = 0
    owner = -1  # the innermost open block element
    ends: list[int] = [0]  # per open element, the node after it; 0: never reached
    undo: list[int] = [0]  # per open element, what closing it undoes: kind bits | owner << 4
    links = skips = pres = 0
    for count, node in enumerate(root.traverse(include_text=True)):
        if count == MAX_NODES:
            break
        node_id = node.mem_id
        while ends[-1] == node_id:
            ends.pop()
            kind = undo.pop()
            if kind & _BLOCK:
                if fragments:
                    _add_block(blocks, fragments, owner, link_chars)
                    fragments, link_chars = [], 0
                owner = (kind >> 4) - 1
                if kind & _PRE:
                    pres -= 1
            elif kind & _LINK:
                links -= 1
            elif kind & _SKIP:
                skips -= 1
        tag = node.tag or "-"
        if tag == "-text":
            if not skips:
                text = node.text_content or ""
                if pres:
                    text = text.replace("\n", _BREAK)
                fragments.append(text)
                if links:
                    link_chars += len(text.strip())
            continue
        if skips or tag in SKIP_TAGS:
            kind = _SKIP
            skips += 1
        elif tag == "br":
            fragments.append(_BREAK)
            continue
        elif tag[0] == "-" or tag[0] == "_":
            continue
        else:
            attrs = node.attributes
            if (
                attrs
                and ("style" in attrs or "hidden" in attrs or "aria-hidden" in attrs)
                and (_hidden(attrs))
            ):
                kind = _SKIP
                skips += 1
            elif tag in BLOCK_TAGS:
                if fragments:
                    _add_block(blocks, fragments, owner, link_chars)
                    fragments, link_chars = [], 0
                kind = _BLOCK | (owner + 1) << 4
                elements.append(Element(tag, owner, _hints(attrs) if attrs else ""))
                owner = len(elements) - 1
                if tag == "pre":
                    kind |= _PRE
                    pres += 1
            elif tag == "a":
                kind = _LINK
                links += 1
            else:
                kind = 0
        after = node.next
        ends.append(after.mem_id if after is not None else ends[-1])
        undo.append(kind)
    if fragments:
        _add_block(blocks, fragments, owner, link_chars)
    return page


def _add_block(blocks: list[Block], fragments: list[str], owner: int, link_chars: int) -> None:
    raw = "".join(fragments)
    if raw.isspace():
        return
    text = _clean(raw)
    if text:
        blocks.append(Block(owner, text, min(link_chars, len(text))))
