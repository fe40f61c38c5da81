"""Feed parsing on the real-world corpus: every feed parses, identities are stable."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse import canonical_url, html_to_text, parse_feed

DATA = Path(__file__).parent / "data" / "feeds"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


# (file, items, first title starts with, first key)
CASES = [
    ("guardian.rss", 55, "Trump State of the Union", "id:https://www.theguardian.com/us-news/2"),
    ("encoding_ISO-8859-1.xml", 40, "Red Dead Redemption 2", "id:https://www.golem.de/"),
    ("no_encoding_ISO-8859-1.xml", 10, "Perturbateurs endocriniens", "link:https://"),
    ("encoding_WINDOWS-1251.xml", 50, "Цитата #17703", "id:http://ibash.org.ru/"),
    ("urdu_UTF8.xml", 26, "امریکی عسکری امداد", "id:http://www.bbc.com/urdu/"),
    ("rdf_UTF8.xml", 60, "OLED-TVs: Vorsichtsmaßnahmen", "link:https://www.heise.de/"),
    ("heise.atom", 15, "Java-Anwendungsserver", "id:http://heise.de/-3088438"),
    ("json_feed.json", 20, "James Dempsey and the Breakpoints", "id:http://inessential.com/"),
]


@pytest.mark.parametrize(("name", "count", "title", "key"), CASES)
def test_corpus_feeds(name: str, count: int, title: str, key: str) -> None:
    parsed = parse_feed(load(name), feed="f", url="http://example.org/feed")
    items = parsed.items
    assert (parsed.cut, parsed.skipped, parsed.problems) == (0, 0, ())
    assert len(items) == count
    assert items[0].title.startswith(title)
    assert items[0].key.startswith(key)
    assert len({i.key for i in items}) == count


def test_no_mojibake_in_undeclared_latin1() -> None:
    items = parse_feed(load("no_encoding_ISO-8859-1.xml"), feed="f", url="http://x/").items
    text = " ".join(i.title + i.summary for i in items)
    assert "Ã" not in text and "\ufffd" not in text
    assert "é" in text


def test_summary_is_plain_text_with_paragraphs() -> None:
    items = parse_feed(load("guardian.rss"), feed="f", url="http://x/").items
    assert all("<" not in i.summary for i in items)


def test_keys_survive_title_edits() -> None:
    body = load("guardian.rss")
    first = parse_feed(body, feed="f", url="http://x/").items
    edited = parse_feed(
        body.replace(b"Trump State of the Union", b"EDITED"), feed="f", url="http://x/"
    ).items
    assert [i.key for i in first] == [i.key for i in edited]


def test_link_identity_ignores_tracking_parameters() -> None:
    a = canonical_url("HTTPS://Example.org:443/a?id=3&utm_source=rss#top")
    assert a == canonical_url("https://example.org/a?id=3")
    assert a == "https://example.org/a?id=3"


def test_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not an RSS, Atom or JSON feed"):
        parse_feed(b"<html><body>Hello</body></html>", feed="f", url="http://x/")
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse_feed(b'{"hello": 1}', feed="f", url="http://x/")
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_feed(b"{nope", feed="f", url="http://x/")


def test_truncated_feed_still_yields_items() -> None:
    body = load("guardian.rss")
    items = parse_feed(body[: len(body) // 2], feed="f", url="http://x/").items
    assert 5 < len(items) < 55


def test_html_to_text_blocks() -> None:
    assert html_to_text("<p>One</p><p>Two &amp; three</p><script>x()</script>") == (
        "One\n\nTwo & three"
    )


def test_a_parsed_feed_crosses_a_process_boundary() -> None:
    parsed = parse_feed(load("guardian.rss"), feed="f", url="http://x/")
    assert pickle.loads(pickle.dumps(parsed)) == parsed
