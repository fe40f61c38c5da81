"""Parse HTML and flatten the page into blocks of text, each tied to the element holding it.

The walk is iterative (a page nested thousands of levels deep costs a list, not the C stack) and
visits every node once except inside skipped and hidden elements, which it never enters;
later stages work on the flat `Page`, reading the attributes of the few elements they ask
about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..tagsoup import unmark

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
MAX_ELEMENTS = 200_000  # the walk stops here: no article needs more
MAX_HINT_CHARS = 1_000  # of an element's class, id, role and itemprop together


def _lexbor_ids() -> dict[str | None, int]:
    """Lexbor's id for each name the walk tells apart: reading a node's id is cheaper than
    reading its name (a new string each time). Standard elements have fixed ids, and an
    unknown element's id is never one of them."""
    sample = LexborHTMLParser("<p>text<!--comment--><?instruction?></p>")
    names = SKIP_TAGS | BLOCK_TAGS | {"a", "br"}
    ids: dict[str | None, int] = {name: sample.create_node(name).tag_id for name in names}
    if sample.body is not None:
        ids.update((node.tag, node.tag_id) for node in sample.body.traverse(include_text=True))
    return ids


_ID = _lexbor_ids()
_TEXT_ID, _A_ID, _BR_ID, _PRE_ID = _ID["-text"], _ID["a"], _ID["br"], _ID["pre"]
_BLOCK_NAMES = {_ID[name]: name for name in BLOCK_TAGS}
# Never-text elements, comments and processing instructions: neither read nor entered.
_IGNORED_IDS = frozenset(_ID[name] for name in SKIP_TAGS) | {
    _ID[other] for other in ("-comment", None) if other in _ID
}
_HINTS = ("class", "id", "role", "itemprop")  # the attributes that hint at an element's role
_MAYBE_HIDDEN = "[hidden], [aria-hidden], [style]"  # the attributes _hidden reads
# Each attempt starts at a literal word; the two space runs are separated by ":": linear.
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


@dataclass(slots=True)
class Page:
    """The page flattened into columns (plain lists are cheaper to build than an object per
    row). Element i is a block-level element in document order: `tags[i]`, `parents[i]` (the
    index of the block-level element around it, -1 for none) and `nodes[i]` (the element
    itself; `hints` reads its attributes). Block j is a run of text between block
    boundaries: `texts[j]`, owned by the innermost block-level element `owners[j]` (-1 for
    none), with `link_chars[j]` of its characters inside links."""

    tags: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    nodes: list[LexborNode] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    link_chars: list[int] = field(default_factory=list)


def hints(node: LexborNode) -> str:
    """What an element's class, id, role and itemprop say about it, lower-cased and
    space-separated (read only for the elements whose role is in question). Cut at
    MAX_HINT_CHARS: real ones are far shorter, and the regular expressions that read them
    and the cache of their answers then stay small."""
    attrs = node.attributes
    if not attrs:
        return ""
    return " ".join(filter(None, map(attrs.get, _HINTS)))[:MAX_HINT_CHARS].lower()


def _hidden_elements(root: LexborNode) -> set[int]:
    """The mem_ids of the hidden elements at and under `root`: one query for the elements
    with any of the attributes that can hide them, instead of reading every element's."""
    return {node.mem_id for node in root.css(_MAYBE_HIDDEN) if _hidden(node.attributes)}


def _hidden(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _lines(text: str) -> str:
    """The non-blank lines of a block's text broken by <br> or inside <pre>, each with its
    whitespace collapsed."""
    lines = (" ".join(line.split()) for line in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


_BLOCK, _LINK, _PRE = 1, 2, 4  # what leaving an element has to undo


def flatten(root: LexborNode) -> Page:
    """Turn the tree under `root` into elements and text blocks, in document order.

    The walk keeps a stack of child iterators, one per open element, so the tree's depth
    costs a list, not the C stack, and leaving an element is the end of its iterator.
    Skipped and hidden elements are never entered. Lexbor leaves out the whitespace-only
    text nodes (outside <pre>), which are half of all text nodes; where one stood after some
    text, before an element or at the end of an inline one, a space takes its place (before
    a block it is stripped again). Few property reads per node: this loop is where
    extraction spends its time.
    """
    page = Page()
    tags, parents, nodes = page.tags, page.parents, page.nodes
    hidden = _hidden_elements(root)
    fragments: list[str] = []  # text since the last block boundary
    link_chars = 0
    owner = -1  # the innermost open block element
    links = pres = 0
    budget = MAX_ELEMENTS
    children: Iterator[LexborNode] = iter((root,))  # what is left of the open element
    # Per open element: what was left of its parent, the element, and what leaving it
    # undoes (kind bits | the enclosing owner + 1 << 3).
    stack: list[tuple[Iterator[LexborNode], LexborNode, int]] = []
    while True:
        for node in children:
            tag_id = node.tag_id
            if tag_id == _TEXT_ID:
                text = node.text_content or ""
                if not fragments and text.isspace():  # a block's leading blanks are dropped
                    continue
                if pres:
                    text = text.replace("\n", _BREAK)
                fragments.append(text)
                if links:
                    link_chars += len(text.strip())
                continue
            if fragments and not pres:  # a skipped blank right before it?
                before = node.prev
                if before is not None and before.is_empty_text_node:
                    fragments.append(" ")
            if tag_id in _IGNORED_IDS:
                continue
            if tag_id == _BR_ID:
                fragments.append(_BREAK)
                continue
            if hidden and node.mem_id in hidden:
                continue
            name = _BLOCK_NAMES.get(tag_id)
            if name is not None:
                if fragments:
                    _add_block(page, fragments, owner, link_chars)
                    fragments, link_chars = [], 0
                kind = _BLOCK | (owner + 1) << 3
                tags.append(name)
                parents.append(owner)
                nodes.append(node)
                owner = len(tags) - 1
                if tag_id == _PRE_ID:
                    kind |= _PRE
                    pres += 1
            elif tag_id == _A_ID:
                kind = _LINK
                links += 1
            else:
                kind = 0
            budget -= 1
            if budget:
                stack.append((children, node, kind))
                children = node.iter(True, not pres)  # include_text, skip_empty
            else:  # the walk stops here
                stack.clear()
                children = iter(())
            break
        else:
            if not stack:
                break
            children, node, kind = stack.pop()
            if kind & _BLOCK:
                if fragments:
                    _add_block(page, fragments, owner, link_chars)
                    fragments, link_chars = [], 0
                owner = (kind >> 3) - 1
                if kind & _PRE:
                    pres -= 1
                continue
            if fragments and not pres:  # a skipped blank at its end?
                last = node.last_child
                if last is not None and last.is_empty_text_node:
                    fragments.append(" ")
            if kind & _LINK:
                links -= 1
    if fragments:
        _add_block(page, fragments, owner, link_chars)
    return page


def _add_block(page: Page, fragments: list[str], owner: int, link_chars: int) -> None:
    raw = "".join(fragments)
    if raw.isprintable() and "  " not in raw and raw[:1] != " " and raw[-1:] != " ":
        text = raw  # the common case: no whitespace but single spaces, nothing to collapse
    elif _BREAK in raw:
        text = _lines(unmark(raw))
    else:
        text = " ".join(unmark(raw).split())
    if text:
        size = len(text)
        page.owners.append(owner)
        page.texts.append(text)
        page.link_chars.append(link_chars if link_chars < size else size)
