"""Find the article body among a page's blocks and drop the boilerplate around and inside it.

1. An element is *negative* when its tag or its class/id/role/itemprop says it is
   navigation, a header or footer, a sidebar, a share bar, related stories, a newsletter
   box, a cookie banner, comments, a caption or a byline - unless its hints also say
   "article body". A negative element holding most of the page's article-like text is a
   page-wide wrapper with an unlucky class ("has-sidebar"), not boilerplate; comment
   sections stay negative whatever their size.
2. Each block scores for or against the element holding it: paragraphs and sentences with
   few links count for (in full when they have article-like siblings, less when alone in
   their parent like the blurb of a teaser card); link lists, short fragments and text
   under negative elements count against.
3. The body is the element whose subtree has the highest total (a maximum-subtree choice:
   it grows to take in every paragraph as long as what lies between them is not worse).
4. Inside it, blocks that are link-dense, under a negative element, the title (h1), known
   filler ("Advertisement", "Add new comment", "Comments are closed.") or credit lines are
   dropped, and so are bylines and dates ahead of the first sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .html import Page, hints

NEGATIVE_TAGS = frozenset(
    {"nav", "aside", "footer", "form", "figcaption", "menu", "address", "header"}
)
# The hint patterns are alternations of literal words with fixed-width lookarounds: no
# quantified group, so each position costs a bounded amount; hints are at most
# MAX_HINT_CHARS long.
NEGATIVE_HINTS = re.compile(
    r"comment|disqus|share|sharing|social|related|newsletter|subscri|signup|sign-up|cookie"
    r"|consent|gdpr|sidebar|side-bar|promo|advert|(?<![a-z])ads?(?![a-z])|(?<![a-z])ad[-_]"
    r"|sponsor|banner|breadcrumb|footer|masthead|menu|navbar|(?<![a-z])nav(?![a-z])"
    r"|navigation|popup|modal|overlay|byline|author|caption|credit|(?<![a-z])tags?(?![a-z])"
    r"|topics|recommend|more-stories|more-articles|read-?more|outbrain|taboola|widget"
    r"|toolbar|login|disclaimer|copyright|rating|pagination|pager|skip-link|sr-only"
    r"|visually-hidden|screen-reader|tooltip|teaser|trending|most-popular|popular"
    r"|complementary|contentinfo|dialog"  # ARIA roles
    r"|(?:^|\s)(?:photo|image|img|figure|gallery)"  # as a class of its own, not "has-image"
)
COMMENT_HINTS = re.compile(r"comment|disqus")
POSITIVE_HINTS = re.compile(
    r"article-?body|story-?body|post-?body|entry-?content|article-?content|articlebody"
    r"|post-content|main-content|story-content|content-body|body-text|article-text|story-text"
    r"|article__body|article__content|rich-?text"
)
# Fullmatched only on blocks shorter than 80 characters (body_blocks), which bounds
# whatever `.{1,40}` and the optional words may backtrack.
FILLER = re.compile(
    r"(advertisement|advert|ad|sponsored( content)?|add new comment|comments? are closed"
    r"|leave a (comment|reply)|\d* ?comments?|read more|read next|share( this)?( article| story)?"
    r"|related( articles| stories| content)?|tweet|email|print|follow us( on \w+)?"
    r"|skip to( main)? content|loading|continue reading|see also|more from .{1,40}"
    r"|sign up( for)?( our)?( \w+)? newsletters?|subscribe( now)?|click here)[.:!…]*",
    re.IGNORECASE,
)
# Matched at the start of blocks shorter than 200 characters; `\S+$` gives back at most that.
CREDIT = re.compile(r"(©|\(c\)|copyright\b|https?://\S+$)", re.IGNORECASE)  # and bare URLs
# From each sentence mark, a run of closing quotes and brackets (which holds no sentence
# mark, so no run is read twice) and one space: linear.
_SENTENCE = re.compile(r"[.!?。！？…][\"'”’)\]]*(\s|$)")

LONE_WEIGHT = 0.3  # weight of a paragraph with no article-like sibling
WEAK_CHARS = 60  # a line shorter than this without a sentence in it is weak
PARAGRAPH_TAGS = frozenset({"p", "pre", "blockquote", "li", "dd", "td"})


@lru_cache(maxsize=4096)
def _negative_hints(hints: str) -> bool:
    """Whether an element's class, id, role or itemprop mark it as something other than
    article text (its tag may too: NEGATIVE_TAGS)."""
    return not POSITIVE_HINTS.search(hints) and bool(NEGATIVE_HINTS.search(hints))


def _positive(text: str, link_chars: int, tag: str) -> bool:
    """Whether a block reads like article text: a paragraph or sentences, few links."""
    size = len(text)
    if link_chars * 2 > size:
        return False
    return tag in PARAGRAPH_TAGS or (size >= 80 and _SENTENCE.search(text) is not None)


def _subtree_sums(parents: Sequence[int], values: list[float]) -> list[float]:
    """Per element, the sum of `values` over its subtree (elements are in document order)."""
    sums = list(values)
    for i, parent in zip(range(len(parents) - 1, -1, -1), reversed(parents), strict=True):
        if parent >= 0:
            sums[parent] += sums[i]
    return sums


def _bad(page: Page, positive_text: list[float]) -> list[bool]:
    """Elements whose text is not article text. A negative element holding most of the page's
    article-like text is a page-wide wrapper with an unlucky class ("has-sidebar"), not
    boilerplate - unless it says it holds comments."""
    parents = page.parents
    roots = (text for text, parent in zip(positive_text, parents, strict=True) if parent < 0)
    majority = 0.5 * sum(roots)
    bad = [False] * len(parents)
    for i, (tag, parent, node) in enumerate(zip(page.tags, parents, page.nodes, strict=True)):
        if parent >= 0 and bad[parent]:
            bad[i] = True
            continue
        roles = hints(node)
        if tag in NEGATIVE_TAGS or (roles and _negative_hints(roles)):
            bad[i] = positive_text[i] < majority or bool(COMMENT_HINTS.search(roles))
    return bad


def choose_body(page: Page) -> tuple[int, list[bool]]:
    """The element whose subtree holds the most article-like text (-1: the root), and which
    elements are boilerplate."""
    tags, parents = page.tags, page.parents
    if not tags:
        return -1, []
    blocks = list(zip(page.owners, page.texts, page.link_chars, strict=True))
    # Per element: its own article-like text, and how many article-like blocks its children
    # own. A paragraph with article-like siblings counts in full; one alone in its parent
    # (the blurb of a teaser card) counts for less.
    own = [0.0] * len(tags)
    siblings = [0] * len(tags)
    positive: list[bool] = []
    for e, text, links in blocks:
        good = e >= 0 and _positive(text, links, tags[e])
        positive.append(good)
        if good:
            own[e] += len(text)
            if (parent := parents[e]) >= 0:
                siblings[parent] += 1
    bad = _bad(page, _subtree_sums(parents, own))
    scores = [0.0] * len(tags)
    for (e, text, links), good in zip(blocks, positive, strict=True):
        if e < 0:
            continue
        size = len(text)
        if bad[e] or links * 2 > size:
            scores[e] -= size
        elif good:
            lone = parents[e] < 0 or siblings[parents[e]] < 2
            scores[e] += LONE_WEIGHT * size if lone else size
        elif size < 40:
            scores[e] -= 0.3 * size
        else:
            scores[e] += 0.3 * size
    totals = _subtree_sums(parents, scores)
    return len(totals) - 1 - totals[::-1].index(max(totals)), bad  # the last of the best


def body_blocks(page: Page, body: int, bad: Sequence[bool]) -> list[str]:
    """The texts of the blocks under `body` that are article text, in document order. Within
    the body an element counts as boilerplate only if it or an ancestor below the body is."""
    tags = page.tags
    inside = [body < 0] * len(tags)
    dropped = [False] * len(tags)
    for i, parent in enumerate(page.parents):
        if i == body:
            inside[i] = True
        elif parent >= 0 and inside[parent]:
            inside[i] = True
            dropped[i] = dropped[parent] or (bad[i] and not bad[parent])
    kept: list[str] = []
    seen: set[str] = set()
    for e, text, links in zip(page.owners, page.texts, page.link_chars, strict=True):
        if e < 0 or not inside[e] or dropped[e] or tags[e] == "h1":
            continue
        if _link_dense(links, len(text), tags[e]) or (len(text) < 80 and FILLER.fullmatch(text)):
            continue
        if text[0] == "<" or (len(text) < 200 and CREDIT.match(text)):
            continue
        if len(text) > 20 and text in seen:
            continue
        seen.add(text)
        kept.append(text)
    return _trim(kept)


def _weak(text: str) -> bool:
    """A short line that is not a sentence: a byline, a date, a label, a lone link."""
    return len(text) < WEAK_CHARS and not _SENTENCE.search(text)


def _trim(texts: list[str]) -> list[str]:
    """Drop the weak lines (bylines, dates, labels) before the body's first sentence. Weak
    lines at the end stay: sign-offs and source lines there are part of the article."""
    start = 0
    while start < len(texts) and _weak(texts[start]):
        start += 1
    return texts[start:] if start < len(texts) else texts


def _link_dense(link_chars: int, size: int, tag: str) -> bool:
    """Mostly link text: a menu or a list of stories. A paragraph may hold more links (a
    sentence whose every noun is linked) before it stops being one."""
    limit = 0.8 if tag == "p" else 0.5
    return link_chars > limit * size
