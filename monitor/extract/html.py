"""Parse HTML and flatten the page into blocks of text, each tied to the element holding it.

The walk is iterative (a page nested 10,000 levels deep costs a list, not the C stack) and
visits every node once; later stages work on the flat `Page` without touching the DOM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

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


def parse(html: str) -> LexborHTMLParser:
    return LexborHTMLParser(html)


def _hints(attrs: dict[str, str | None]) -> str:
    return " ".join(v for k in ("class", "id", "role", "itemprop") if (v := attrs.get(k))).lower()


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


class _Walker:
    def __init__(self) -> None:
        self.page = Page()
        self.fragments: list[str] = []
        self.link_chars = 0
        self.owner = -1

    def flush(self) -> None:
        if not self.fragments:
            return
        raw = "".join(self.fragments)
        self.fragments = []
        if not raw.isspace():
            text = _clean(raw)
            if text:
                self.page.blocks.append(Block(self.owner, text, min(self.link_chars, len(text))))
        self.link_chars = 0

    def walk(self, root: LexborNode) -> Page:
        # lexbor's own depth-first traversal, with the open elements kept on a list: a node
        # whose parent is not the innermost open element closes elements until it is.
        open_ids: list[int] = [-1]
        open_kinds: list[int] = [0]
        owners: list[int] = [-1]
        links = skips = pres = 0
        for node in root.traverse(include_text=True):
            parent = node.parent
            parent_id = parent.mem_id if parent is not None and open_ids[-1] != -1 else -1
            while open_ids[-1] != parent_id and len(open_ids) > 1:
                open_ids.pop()
                kind = open_kinds.pop()
                owner = owners.pop()
                if kind & _BLOCK:
                    self.flush()
                    self.owner = owner
                links -= kind & _LINK and 1
                skips -= kind & _SKIP and 1
                pres -= kind & _PRE and 1
            tag = node.tag
            if tag == "-text":
                if not skips:
                    text = node.text_content or ""
                    if pres:
                        text = text.replace("\n", _BREAK)
                    self.fragments.append(text)
                    if links:
                        self.link_chars += len(text.strip())
                continue
            if not tag or tag[0] == "-" or tag == "_comment":
                continue
            if skips:
                kind = _SKIP
            elif tag == "br":
                self.fragments.append(_BREAK)
                kind = 0
            elif tag in SKIP_TAGS:
                kind = _SKIP
            else:
                attrs = node.attributes
                if _hidden(attrs):
                    kind = _SKIP
                elif tag in BLOCK_TAGS:
                    kind = _BLOCK | (_PRE if tag == "pre" else 0)
                else:
                    kind = _LINK if tag == "a" else 0
            open_ids.append(node.mem_id)
            open_kinds.append(kind)
            owners.append(self.owner)
            if kind & _BLOCK:
                self.flush()
                self.page.elements.append(Element(tag, self.owner, _hints(attrs)))
                self.owner = len(self.page.elements) - 1
            links += kind & _LINK and 1
            skips += kind & _SKIP and 1
            pres += kind & _PRE and 1
        self.flush()
        return self.page


def flatten(root: LexborNode) -> Page:
    """Turn the tree under `root` into elements and text blocks, in document order."""
    return _Walker().walk(root)
