"""Bad input never raises and never takes unbounded time or memory."""

from __future__ import annotations

import time
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.extract import decode_html, extract_article, is_too_little
from monitor.models import Article

TAGS = ["p", "div", "a", "br", "script", "style", "article", "li", "ul", "span", "h1", "pre"]
fragments = st.one_of(
    st.sampled_from([f"<{t}>" for t in TAGS] + [f"</{t}>" for t in TAGS]),
    st.sampled_from(['<div class="comments">', "<a href='x", "<!--", "-->", "<![CDATA[", "&#x"]),
    st.sampled_from(['<script type="application/ld+json">{"@type": "NewsArticle", "a": [']),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(fragments, max_size=60).map("".join))
def test_tag_soup_never_raises(html: str) -> None:
    article = extract_article(html, url="https://news.example/a")
    assert isinstance(article, Article)
    assert isinstance(is_too_little(article), bool)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([None, "text/html", "text/html; charset=x"]))
def test_random_bytes_decode_and_extract(data: bytes, content_type: str | None) -> None:
    assert isinstance(extract_article(decode_html(data, content_type)), Article)


def test_truncated_page() -> None:
    page = "<html><body><article>" + "<p>A sentence about the harbour reopening.</p>" * 20
    for cut in range(0, len(page), 37):
        assert isinstance(extract_article(page[:cut]), Article)


def test_deep_nesting() -> None:
    depth = 4_000  # below tagsoup.MAX_DEPTH; deeper pages are cut (tests/hostile)
    html = "<div>" * depth + "<p>Deep inside, the story finally begins.</p>" + "</div>" * depth
    assert extract_article(html).text == "Deep inside, the story finally begins."
    unclosed = "<span><b><i>" * depth + "text"
    assert isinstance(extract_article(unclosed), Article)


def test_pathological_nesting_is_cut_in_bounded_time() -> None:
    html = "<p>Before the maze.</p>" + "<div>" * 200_000 + "lost"

    started = time.perf_counter()
    article = extract_article(html)

    assert time.perf_counter() - started < 20
    assert article.text.startswith("Before the maze.")


def test_deeply_nested_json_ld() -> None:
    ld = '<script type="application/ld+json">' + "[" * 100_000 + "</script>"
    assert isinstance(extract_article(ld), Article)


def test_huge_page_in_bounded_time() -> None:
    paragraph = "<p>" + "word " * 60 + "</p><div class='ad'><a href='/x'>link</a></div>\n"
    html = "<html><body><article>" + paragraph * (20_000_000 // len(paragraph)) + "</article>"
    assert len(html) >= 19_000_000

    started = time.perf_counter()
    article = extract_article(html)

    assert time.perf_counter() - started < 20  # a guard against blow-ups, not a benchmark
    assert article.text.startswith("word word")


def test_memory_is_flat_over_many_extractions() -> None:
    page = "<html><body><article>" + "<p>The harbour reopened on Monday.</p>" * 30 + "</article>"
    for _ in range(200):  # warm caches
        extract_article(page)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(1000):
            extract_article(page)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1_000_000
