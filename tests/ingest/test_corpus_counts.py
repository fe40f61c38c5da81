"""Every feed of the corpus (tests/ingest/data/feeds, 60 real feeds) read with the right
number of items, checked against a count made without feedparser: the <item>/<entry> start
tags in the bytes, or the JSON Feed's items array. Items with distinct GUIDs stay distinct
items, and become one article only when the feed itself gives them the same page."""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.models import Item
from monitor.parse import parse_feed
from monitor.pipeline import article_id

FEEDS = Path(__file__).parent / "data" / "feeds"
SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf", ".json"})
CORPUS = sorted(str(p.relative_to(FEEDS)) for p in FEEDS.rglob("*") if p.suffix in SUFFIXES)
NOT_A_FEED = {"rsparser/ScriptingNews.json"}  # a JSON document that is not a JSON Feed

_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_GUID = re.compile(
    rb"<(?:guid|id)(?:\s[^>]*)?>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</(?:guid|id)>", re.S
)
_LINK = re.compile(rb"<link(?:\s[^>]*?href=[\"']([^\"']*)[\"'][^>]*|\s*)>([^<]*)", re.S)


def entries(body: bytes) -> list[tuple[str | None, str | None]]:
    """(GUID, link) of each <item>/<entry> as the bytes write them, in document order."""
    starts = [m.start() for m in _ENTRY.finditer(body)]
    found = []
    for start, end in zip(starts, [*starts[1:], len(body)], strict=True):
        chunk = body[start:end]
        guid = _GUID.search(chunk)
        link = _LINK.search(chunk)
        found.append(
            (
                html.unescape(guid.group(1).decode("utf-8", "replace")) if guid else None,
                html.unescape((link.group(1) or link.group(2)).decode("utf-8", "replace")).strip()
                if link
                else None,
            )
        )
    return found


def json_entries(body: bytes) -> list[tuple[str | None, str | None]]:
    items = json.loads(body)["items"]
    return [(str(i["id"]) if "id" in i else None, i.get("url")) for i in items]


def parse(name: str) -> list[Item]:
    return parse_feed(
        (FEEDS / name).read_bytes(), feed=name, url=f"https://corpus.example/{name}"
    ).items


def test_the_corpus_copy_is_whole() -> None:
    assert len(CORPUS) == 60  # 59 feeds and one JSON document that is not a JSON Feed
    assert {p.name for p in FEEDS.iterdir() if p.is_dir()} == {
        "feedjira",
        "miniflux",
        "rss-parser",
        "rsparser",
    }


@pytest.mark.parametrize("name", sorted(set(CORPUS) - NOT_A_FEED))
def test_every_entry_is_an_item_and_distinct_guids_stay_distinct(name: str) -> None:
    body = (FEEDS / name).read_bytes()
    expected = json_entries(body) if name.endswith(".json") else entries(body)
    items = parse(name)
    assert len(items) == len(expected) > 0
    guids = [guid for guid, _ in expected]
    repeated = sum(1 for n, g in enumerate(guids) if g is not None and g in guids[:n])
    assert len({item.key for item in items}) == len(items) - repeated
    # Two items are one article only when the feed gives both the same page.
    by_article: dict[str, set[str | None]] = defaultdict(set)
    for item, (_, link) in zip(items, expected, strict=True):
        by_article[article_id(item)].add(link)
    keys_per_article: dict[str, set[str]] = defaultdict(set)
    for item in items:
        keys_per_article[article_id(item)].add(item.key)
    for article, keys in keys_per_article.items():
        if len(keys) > 1:
            links = by_article[article]
            assert len(links) == 1 and None not in links and "" not in links, (name, keys)


def test_the_document_that_is_not_a_feed_says_so() -> None:
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse("rsparser/ScriptingNews.json")
