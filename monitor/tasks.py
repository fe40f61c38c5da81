"""The CPU stages as tasks for the worker processes (see `monitor.workers`).

- `monitor.parse.parse_feed` runs as it is: a feed document to items.
- `read_and_match`: one new item. Its page, when one was fetched, is decoded and
  extracted; when the page says too little (a paywall, a script-only page) or cannot be
  read at all, the feed's own text stands in and the document is marked partial. An item
  whose link points into its page (`#a020637`: one post of the many on a day's page, see
  `parse.points_into_page`) keeps the feed's text: the page's is every post's, and would
  make them all one story. The document's language is the page's (declared or detected)
  when extraction finds one, else the one the item declares (`Item.language`, the feed's
  when the entry has none). Then the text is sketched (for twin detection) and every rule
  is matched.

A worker holds the compiled rules, built by its setup task `load_rules` when it starts and
again on a reload; nothing else survives from one task to the next. Everything here is a
pure function of its arguments: the pipeline decides what to fetch and what to record.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.dedupe import text_sketch
from monitor.extract import decode_html, extract_article, is_too_little
from monitor.match import Matcher
from monitor.models import Document, EntityConfig, ExtractOverride, Match, RuleConfig
from monitor.parse import points_into_page

_matcher: Matcher | None = None


def load_rules(rules: Sequence[RuleConfig], entities: Mapping[str, EntityConfig]) -> int:
    """A worker's setup: compile the rules it will match; returns how many."""
    global _matcher
    _matcher = None
    _matcher = Matcher.build(rules, entities)
    gc.freeze()  # long-lived: keep the collector from scanning them again and again
    return len(rules)


@dataclass(frozen=True)
class Page:
    """A fetched article page, as `read_and_match` needs it."""

    body: bytes
    content_type: str | None
    url: str  # after redirects: relative links on the page resolve against it


@dataclass(frozen=True)
class ItemResult:
    """One item read and matched. `canonical` is the page's own canonical link, not yet
    checked (the pipeline checks it before it may replace the feed's link); `problem`
    says why the page's text was not used, when it could not be read."""

    doc: Document
    sketch: tuple[int, ...]
    matches: list[Match]
    canonical: str | None = None
    problem: str | None = None


def read_and_match(
    base: Document, page: Page | None, override: ExtractOverride | None = None
) -> ItemResult:
    """`base` is the item as the feed gives it (with the language it declares); `page` its
    fetched page, if any."""
    doc, canonical, problem = base, None, None
    if page is not None:
        try:
            doc, canonical = _read_page(base, page, override)
        except Exception as e:  # stranger-written page: any failure falls back to the feed
            doc, problem = replace(base, partial=True), f"{type(e).__name__}: {e}"
    if _matcher is None:
        raise RuntimeError("this worker has no rules (its setup did not run)")
    matches = _matcher.match(doc)
    return ItemResult(doc, tuple(text_sketch(doc.text)), matches, canonical, problem)


def _read_page(
    base: Document, page: Page, override: ExtractOverride | None
) -> tuple[Document, str | None]:
    html = decode_html(page.body, page.content_type)
    article = extract_article(
        html,
        page.url,
        selector=override.selector if override else None,
        remove=override.remove if override else (),
    )
    language = article.language or base.language
    if points_into_page(base.url):
        return replace(base, title=base.title or article.title, language=language), None
    if is_too_little(article) and len(base.text) >= len(article.text):
        return replace(base, partial=True, language=language), None
    doc = replace(
        base,
        title=base.title or article.title,
        text=article.text,
        language=language,
        published=base.published or article.published,
    )
    return doc, article.canonical_url
