"""Find the article body among a page's blocks and drop the boilerplate around and inside it.

1. Each element is *negative* when its tag or its class/id/role says it is navigation, a
   sidebar, a share bar, related stories, a newsletter box, a cookie banner, comments,
   a caption or a byline - unless its hints also say "article body".
2. Each block scores for or against the element holding it: sentence-like text with few
   links counts for, link lists, short fragments and text under negative elements against.
3. The body is the element whose subtree has the highest total (a maximum-subtree choice:
   it grows to take in every paragraph as long as what lies between them is not worse).
4. Inside it, blocks that are link-dense, under a negative element or known filler
   ("Advertisement", "Add new comment", "Comments are closed.") are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .html import Block, Element

NEGATIVE_TAGS = frozenset({"nav", "aside", "footer", "form", "figcaption", "menu", "address"})
NEGATIVE_ROLES = frozenset(
    {"navigation", "complementary", "contentinfo", "dialog", "alertdialog", "menu", "menubar"}
)
NEGATIVE_HINTS = re.compile(
    r"comment|disqus|share|sharing|social|related|newsletter|subscri|signup|sign-up|cookie"
    r"|consent|gdpr|sidebar|side-bar|promo|advert|(?<![a-z])ads?(?![a-z])|(?<![a-z])ad[-_]"
    r"|sponsor|banner|breadcrumb|footer|masthead|menu|navbar|(?<![a-z])nav(?![a-z])"
    r"|navigation|popup|modal|overlay|byline|author|caption|credit|(?<![a-z])tags?(?![a-z])"
    r"|topics|recommend|more-stories|more-articles|read-?more|outbrain|taboola|widget"
    r"|toolbar|login|paywall|disclaimer|copyright|rating|pagination|pager|skip-link|sr-only"
    r"|visually-hidden|screen-reader|tooltip|teaser|trending|most-popular|popular"
)
POSITIVE_HINTS = re.compile(
    r"article-?body|story-?body|post-?body|entry-?content|article-?content|articlebody"
    r"|post-content|main-content|story-content|content-body|body-text|article-text|story-text"
    r"|article__body|article__content|rich-?text|articlebody"
)
FILLER = re.compile(
    r"(advertisement|advert|ad|sponsored( content)?|add new comment|comments? are closed"
    r"|leave a (comment|reply)|\d* ?comments?|read more|read next|share( this)?( article| story)?"
    r"|related( articles| stories| content)?|tweet|email|print|follow us( on \w+)?"
    r"|skip to( main)? content|loading|continue reading|see also|more from .{1,40}"
    r"|sign up( for)?( our)?( \w+)? newsletters?|subscribe( now)?|click here)[.:!…]*",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[.!?。！？…][\"'”’)\]]*(\s|$)")

PARAGRAPH_TAGS = frozenset({"p", "pre", "blockquote", "li", "dd", "td"})


def negative(element: Element) -> bool:
    """Whether the element's tag or hints mark it as something other than article text."""
    if element.tag in NEGATIVE_TAGS:
        return True
    return bool(element.hints) and _negative_hints(element.hints)


@lru_cache(maxsize=4096)
def _negative_hints(hints: str) -> bool:
    return not POSITIVE_HINTS.search(hints) and bool(NEGATIVE_HINTS.search(hints))


def _score(block: Block, tag: str, bad: bool) -> float:
    size = len(block.text)
    if bad or block.link_chars * 2 > size:
        return -float(size)
    if tag in PARAGRAPH_TAGS or (size >= 80 and _SENTENCE.search(block.text)):
        return float(size)
    if size < 40:
        return -0.3 * size
    return 0.3 * size


def choose_body(
    elements: Sequence[Element], blocks: Sequence[Block], use_hints: bool = True
) -> int:
    """Index of the element whose subtree holds the most article-like text (-1: the root)."""
    bad = [False] * len(elements)
    for i, el in enumerate(elements):
        own = negative(el) if use_hints else el.tag in NEGATIVE_TAGS
        bad[i] = own or (el.parent >= 0 and bad[el.parent])
    totals = [0.0] * len(elements)
    for block in blocks:
        if block.element >= 0:
            tag = elements[block.element].tag
            totals[block.element] += _score(block, tag, bad[block.element])
    for i in range(len(elements) - 1, -1, -1):
        parent = elements[i].parent
        if parent >= 0:
            totals[parent] += totals[i]
    if not elements:
        return -1
    return max(range(len(elements)), key=lambda i: (totals[i], i))


def body_blocks(
    elements: Sequence[Element], blocks: Sequence[Block], body: int, use_hints: bool = True
) -> list[Block]:
    """The blocks under `body` that are article text, in document order."""
    inside = [False] * len(elements)
    bad = [False] * len(elements)
    for i, el in enumerate(elements):
        if i == body or body < 0:
            inside[i] = True
        elif el.parent >= 0 and inside[el.parent]:
            inside[i] = True
            own = negative(el) if use_hints else el.tag in NEGATIVE_TAGS
            bad[i] = own or bad[el.parent]
    kept: list[Block] = []
    seen: set[str] = set()
    for block in blocks:
        e = block.element
        if e >= 0 and (not inside[e] or bad[e]):
            continue
        if e < 0 and body >= 0:
            continue
        text = block.text
        if block.link_chars * 2 > len(text) or (len(text) < 80 and FILLER.fullmatch(text)):
            continue
        if len(text) > 20 and text in seen:
            continue
        seen.add(text)
        kept.append(block)
    return kept
