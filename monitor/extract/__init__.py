"""Extraction: an article page's HTML in, an `Article` (body text plus metadata) out.

Front door:

- `decode_html(data, content_type)`: page bytes to text (see `encoding`).
- `extract_article(html, url, selector=, remove=)`: the article body with paragraphs
  separated by a blank line, plus title, date, authors, language, canonical URL,
  description and image. Pure and total: bad HTML gives what can be read, never an error,
  and `tagsoup.defuse` bounds what the parser does with it first. A canonical URL or image
  that is not a usable http(s) URL (`links.resolve_link`) is None.
- `is_too_little(article)`: whether the pipeline should fall back to the feed's own
  content or summary and mark the document partial.

Pages pass through `html` (parse, flatten to blocks), `boilerplate` (choose the body, drop
the rest), `metadata` (JSON-LD, OpenGraph, meta, `<time>`) and `language`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ..links import resolve_link
from ..models import Article
from ..tagsoup import defuse
from .boilerplate import NEGATIVE_TAGS, body_blocks, choose_body
from .encoding import decode_html
from .html import flatten
from .language import article_language
from .metadata import Metadata, extract_metadata

__all__ = ["decode_html", "extract_article", "is_too_little"]

_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"  # kana and CJK ideographs: unspaced scripts
# One word per ideograph, else per run: two disjoint branches, one of them a single run.
_WORDS = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
MAX_MATCHES = 1_000  # of an operator's selector
MIN_BODY_WORDS = 50  # below this `is_too_little` says to use the feed's text instead


def _css(parser: LexborHTMLParser, selector: str) -> list[LexborNode]:
    """Nodes matching an operator's selector; an invalid selector matches nothing."""
    try:
        return list(parser.css(selector))
    except (SelectolaxError, ValueError):
        return []


def _override_blocks(nodes: list[LexborNode]) -> list[str]:
    """The text of the operator's selector matches (the first MAX_MATCHES, each once even
    when matches nest), without navigation, asides and filler."""
    seen: set[int] = set()
    texts: list[str] = []
    for node in nodes[:MAX_MATCHES]:
        seen.add(node.mem_id)
        ancestor = node.parent
        while ancestor is not None and ancestor.mem_id not in seen:
            ancestor = ancestor.parent
        if ancestor is not None:  # inside a node already taken
            continue
        page = flatten(node)
        texts += body_blocks(page, -1, [tag in NEGATIVE_TAGS for tag in page.tags])
    return texts


def _body(parser: LexborHTMLParser) -> list[str]:
    root = parser.body or parser.root
    if root is None:
        return []
    page = flatten(root)
    body, bad = choose_body(page)
    return body_blocks(page, body, bad)


def _text(texts: Sequence[str], meta: Metadata) -> str:
    text = "\n\n".join(texts)
    if len(meta.body) > 2 * len(text) + 200:  # the page hides the text the JSON-LD carries
        paragraphs = (" ".join(p.split()) for p in meta.body.splitlines())
        return "\n\n".join(p for p in paragraphs if p)
    return text


def extract_article(
    html: str,
    url: str | None = None,
    *,
    selector: str | None = None,
    remove: Sequence[str] = (),
) -> Article:
    """Extract the article from a page. `url` resolves relative links; `selector` (the body
    is taken from its matches when there are any) and `remove` (dropped first) are the
    operator's site overrides from feeds.yaml."""
    parser = LexborHTMLParser(defuse(html))
    meta = extract_metadata(parser)
    removed = False
    for pattern in remove:
        for node in _css(parser, pattern):
            node.decompose()
            removed = True
    if removed:  # the text on either side of a removed element is one text node again
        parser.merge_text_nodes()
    matched = _css(parser, selector) if selector else []
    texts = _override_blocks(matched) if matched else _body(parser)
    text = _text(texts, meta)
    return Article(
        title=meta.title,
        text=text,
        published=meta.published,
        authors=meta.authors,
        language=article_language(meta.language, text or meta.title),
        canonical_url=resolve_link(meta.canonical_url, url),
        description=meta.description,
        image=resolve_link(meta.image, url),
    )


def is_too_little(article: Article, min_words: int = MIN_BODY_WORDS) -> bool:
    """Whether the extracted body is too short to stand for the article (a paywall, a
    consent wall, a page rendered by script): the pipeline then uses the feed's content
    or summary instead and marks the document partial. Words are runs of letters and
    digits; in Chinese and Japanese, where words are not spaced, each character counts."""
    return len(_WORDS.findall(article.text)) < min_words
