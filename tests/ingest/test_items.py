"""What a feed document tells us about its items: identity (links that differ only in the
fragment), the declared language, timing hints, and links resolved without feedparser's
sanitizer or URI resolver."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from monitor.feedmeta import MAX_TTL, feed_ttl, language_tag
from monitor.models import Document, Item, RuleConfig
from monitor.parse import canonical_url, parse_feed, points_into_page
from monitor.pipeline import article_id
from monitor.tasks import Page, load_rules, read_and_match

FEEDS = Path(__file__).parent / "data" / "feeds"
FEED_URL = "https://news.example/feeds/main.xml"


def parse(body: bytes | str, url: str = FEED_URL) -> list[Item]:
    data = body.encode() if isinstance(body, str) else body
    return parse_feed(data, feed="f", url=url).items


def rss(items: str, channel: str = "", attrs: str = "") -> str:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {attrs}><channel><title>T</title>'
        f"<link>https://news.example/</link>{channel}{items}</channel></rss>"
    )


# --------------------------------------------------------------------------- fragments


def test_scripting_news_posts_on_one_day_page_are_distinct_articles() -> None:
    items = parse((FEEDS / "rsparser" / "scriptingNews.rss").read_bytes(), "http://scripting.com/")
    pages = defaultdict(set)
    for item in items:
        assert item.link is not None
        pages[item.link.split("#", 1)[0]].add(item.key)
    assert max(len(keys) for keys in pages.values()) >= 10  # many posts share one page
    guids = {item.key for item in items}
    assert all(key.startswith("id:") for key in guids)
    ids = {article_id(item) for item in items}
    assert len(ids) == len(guids) == 48  # 50 entries; the feed itself repeats two guids


def test_distinct_guids_on_one_page_each_get_their_own_article() -> None:
    entries = "".join(
        f"<item><title>Post {n}</title><link>http://blog.example/2017/06/21.html#a{n:06}</link>"
        f"<guid>http://blog.example/2017/06/21.html#a{n:06}</guid></item>"
        for n in range(40)
    )
    items = parse(rss(entries))
    assert len({article_id(i) for i in items}) == 40


def test_items_without_guid_are_told_apart_by_their_fragment() -> None:
    entries = "".join(
        f"<item><title>Same</title><link>http://blog.example/day.html#p{n}</link></item>"
        for n in range(5)
    )
    items = parse(rss(entries))
    assert len({i.key for i in items}) == 5
    assert len({article_id(i) for i in items}) == 5


@pytest.mark.parametrize(
    "link",
    [
        "https://news.example/a/1.html#",
        "https://news.example/a/1.html#xtor=RSS-3",
        "https://news.example/a/1.html#xtor=RSS-3&utm_source=rss",
        "https://news.example/a/1.html#utm_source=feed;utm_medium=rss",
        "https://news.example/a/1.html#ref=rss",
        "https://news.example/a/1.html#REF=RSS",
        "https://news.example/a/1.html#src=rss&from=feed",
        "https://news.example/a/1.html#comments",
        "https://news.example/a/1.html#Comments",
        "https://news.example/a/1.html#respond",
        "https://news.example/a/1.html#disqus_thread",
        "https://news.example/a/1.html#top",
        "https://news.example/a/1.html#more",
        "https://news.example/a/1.html#more-1234",
        "https://news.example/a/1.html#main-content",
        "https://news.example/a/1.html#.VxY2aBcD",
        "https://news.example/a/1.html#.VxY2aBcD.twitter",
        "https://news.example/a/1.html#sthash.AbC123xy.dpuf",
        "https://news.example/a/1.html#tk.rss_all",
        "https://news.example/a/1.html?ns_mchannel=rss&ns_source=PublicRSS20-sa",
        "https://news.example/a/1.html?xtor=RSS-3",
        "https://news.example/a/1.html?utm_campaign=x#xtor=RSS-3",
        "HTTPS://News.Example:443/a/1.html#&",
    ],
)
def test_fragments_that_are_not_identity_are_dropped(link: str) -> None:
    assert canonical_url(link) == "https://news.example/a/1.html"
    assert not points_into_page(link)


@pytest.mark.parametrize(
    "fragment",
    [
        "a020637",
        "post-5",
        "comment-42",
        "!/story/1",
        "/article/77",
        "p=3",  # key=value, but not a tracking key
        "xtor=RSS-3&p=3",  # one key that is not tracking: the whole fragment stays
        "more-about-it",
        "top-stories",
        "tk",
        ".short",
        "sthash",
    ],
)
def test_fragments_that_name_a_post_are_kept(fragment: str) -> None:
    link = f"https://news.example/live.html#{fragment}"
    assert canonical_url(link) == link
    assert points_into_page(link)


def test_one_story_through_two_feeds_is_still_one_article() -> None:
    a = parse(
        rss("<item><title>A</title><link>https://wire.example/s/1?utm_source=a</link></item>")
    )
    b = parse(
        rss(
            "<item><title>B</title><guid>b-1</guid>"
            "<link>https://WIRE.example/s/1#xtor=RSS-3</link></item>"
        ),
        "https://other.example/rss",
    )
    c = parse(
        rss("<item><title>C</title><link>https://wire.example/s/1#comments</link></item>"),
        "https://third.example/rss",
    )
    assert article_id(a[0]) == article_id(b[0]) == article_id(c[0])


def test_an_empty_link_is_not_the_item_s_own() -> None:
    # One Foot Tsunami (WordPress) writes its link posts with href="": it resolves to the
    # feed's xml:base, the feed itself, and would make every such post one story.
    items = parse(
        (FEEDS / "rsparser" / "OneFootTsunami.atom").read_bytes(),
        "http://onefoottsunami.com/feed/atom/",
    )
    assert len({i.key for i in items}) == len(items) == 25
    assert len({article_id(i) for i in items}) == 25
    assert all(i.link != "http://onefoottsunami.com/wp-atom.php" for i in items)


@pytest.mark.parametrize(
    "link", ["", FEED_URL, "https://news.example/", "https://news.example", "#"]
)
def test_links_to_the_feed_or_its_home_page_are_not_the_item_s(link: str) -> None:
    entries = "".join(
        f"<item><title>Post {n}</title><description>Text {n}</description>"
        f"<link>{link}</link></item>"
        for n in range(3)
    )
    items = parse(rss(entries))
    assert [i.link for i in items] == [None, None, None]
    assert len({i.key for i in items}) == 3
    assert len({article_id(i) for i in items}) == 3


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("de", "de"),
        ("de-DE", "de-de"),
        ("EN_gb", "en-gb"),
        ("  en-US  ", "en-us"),
        ("en-US, fr", "en-us"),
        ("zh-Hant-TW", "zh-hant-tw"),
        ("English", None),
        ("x-klingon", None),
        ("e", None),
        ("", None),
        ("de\x00", None),
        ("d\u0435", None),  # a Cyrillic "e"
        ("\u202ede", None),
        ("en-" + "a" * 40, None),
        ("en-abcdefghi", None),
        ("en-" + "-a" * 500_000, None),
        ("de" * 500_000, None),
        (" " * 1_000_000 + "de", "de"),
        (None, None),
        (42, None),
    ],
)
def test_language_tags_are_normalised_and_junk_is_none(value: object, tag: str | None) -> None:
    start = time.perf_counter()
    assert language_tag(value) == tag
    assert time.perf_counter() - start < 0.5  # a few ms for the 1 MB cases


def test_the_feed_declares_its_language_in_every_format() -> None:
    rss_doc = rss("<item><title>a</title><guid>1</guid></item>", "<language>de-DE</language>")
    dc = rss(
        "<item><title>a</title><guid>1</guid></item>",
        "<dc:language>fr</dc:language>",
        'xmlns:dc="http://purl.org/dc/elements/1.1/"',
    )
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="pt-BR"><title>T</title>'
        "<entry><title>a</title><id>1</id></entry></feed>"
    )
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "language": "ru",'
        ' "items": [{"id": "1", "content_text": "x"}]}'
    )
    for doc, tag in ((rss_doc, "de-de"), (dc, "fr"), (atom, "pt-br"), (json_feed, "ru")):
        parsed = parse_feed(doc.encode(), feed="f", url=FEED_URL)
        assert parsed.language == tag
        assert [i.language for i in parsed.items] == [tag]


def test_an_entry_s_own_language_wins_over_the_feed_s() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>T</title>'
        '<entry xml:lang="de"><title>a</title><id>1</id></entry>'
        "<entry><title>b</title><id>2</id></entry>"
        '<entry><title xml:lang="fr">c</title><id>3</id></entry></feed>'
    )
    parsed = parse_feed(atom.encode(), feed="f", url=FEED_URL)
    assert parsed.language == "en"
    assert [i.language for i in parsed.items] == ["de", "en", "fr"]
    dc = rss(
        "<item><title>a</title><guid>1</guid><dc:language>sk</dc:language></item>"
        "<item><title>b</title><guid>2</guid></item>",
        "<language>cs</language>",
        'xmlns:dc="http://purl.org/dc/elements/1.1/"',
    )
    assert [i.language for i in parse(dc)] == ["sk", "cs"]
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "language": "en",'
        ' "items": [{"id": "1", "language": "de", "content_text": "x"},'
        ' {"id": "2", "language": "!!", "content_text": "y"}]}'
    )
    assert [i.language for i in parse(json_feed)] == ["de", "en"]


def test_a_feed_without_a_language_leaves_it_to_the_page() -> None:
    parsed = parse_feed(rss("<item><title>a</title></item>").encode(), feed="f", url=FEED_URL)
    assert parsed.language is None
    assert parsed.items[0].language is None


def _base(item: Item) -> Document:
    """The document the pipeline builds from an item (pipeline.Pipeline._read_item)."""
    return Document(
        id=article_id(item),
        title=item.title,
        text=item.content or item.summary,
        url=item.link,
        feed=item.feed,
        language=item.language,
        partial=True,
    )


GERMAN_RULE = RuleConfig(name="iran-de", query="Iran", languages=("de",))
STORY = {
    "en": "Iran says it will not talk while sanctions remain in force, officials said.",
    "de": "Der Iran will nicht verhandeln, solange die Sanktionen gelten, sagten Beamte.",
}


@pytest.mark.parametrize(("declared", "matches"), [("en", False), ("de", True)])
def test_declared_language_decides_when_the_page_cannot_be_fetched(
    declared: str, matches: bool
) -> None:
    load_rules([GERMAN_RULE], {})
    item = parse(
        rss(
            f"<item><title>Iran</title><guid>1</guid><link>https://news.example/a/1</link>"
            f"<description>{STORY[declared]}</description></item>",
            f"<language>{declared}</language>",
        )
    )[0]
    result = read_and_match(_base(item), None)
    assert result.doc.language == declared
    assert [m.rule for m in result.matches] == (["iran-de"] if matches else [])


def test_without_a_declared_language_the_rule_is_not_refused() -> None:
    load_rules([GERMAN_RULE], {})
    item = parse(
        rss(
            "<item><title>Iran</title><guid>1</guid>"
            f"<description>{STORY['en']}</description></item>"
        )
    )[0]
    assert [m.rule for m in read_and_match(_base(item), None).matches] == ["iran-de"]


GERMAN_PAGE = (
    '<html lang="de"><head><title>Iran</title></head><body><article>'
    + "".join(
        f"<p>Der Iran will nicht verhandeln, solange die Sanktionen gelten, sagten Beamte am "
        f"Montag in Teheran. Absatz {n} der Meldung.</p>"
        for n in range(8)
    )
    + "</article></body></html>"
)


def test_the_page_s_language_wins_over_the_feed_s() -> None:
    load_rules([GERMAN_RULE], {})
    item = parse(
        rss(
            "<item><title>Iran</title><guid>1</guid><link>https://news.example/a/1</link>"
            f"<description>{STORY['en']}</description></item>",
            "<language>en</language>",
        )
    )[0]
    page = Page(GERMAN_PAGE.encode(), "text/html; charset=utf-8", "https://news.example/a/1")
    result = read_and_match(_base(item), page)
    assert result.doc.language == "de"
    assert [m.rule for m in result.matches] == ["iran-de"]


def test_a_page_without_language_leaves_the_feed_s() -> None:
    load_rules([GERMAN_RULE], {})
    item = parse(
        rss(
            "<item><title>Iran</title><guid>1</guid><link>https://news.example/a/1</link>"
            f"<description>{STORY['de']}</description></item>",
            "<language>de</language>",
        )
    )[0]
    page = Page(b"<html><body><p>Iran</p></body></html>", "text/html", "https://news.example/a/1")
    result = read_and_match(_base(item), page)
    assert result.doc.language == "de"
    assert [m.rule for m in result.matches] == ["iran-de"]


def test_a_post_on_a_shared_page_keeps_the_feed_s_text() -> None:
    # Each post of a day page is fetched as the whole page: its text is every post's, and
    # the twin detector would make them one story. The feed's own text is the post's.
    load_rules([RuleConfig(name="any", query="Iran OR Sanktionen")], {})
    item = parse(
        rss(
            "<item><title></title><guid>a1</guid><link>https://news.example/day.html#a1</link>"
            "<description>Iran: one short post.</description></item>",
            "<language>en</language>",
        )
    )[0]
    page = Page(GERMAN_PAGE.encode(), "text/html", "https://news.example/day.html")
    result = read_and_match(_base(item), page)
    assert result.doc.text == "Iran: one short post."
    assert result.doc.title == "Iran"  # the page lends its title when the post has none
    assert result.doc.language == "de"
    assert result.canonical is None


# --------------------------------------------------------------------------- timing hints


SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


@pytest.mark.parametrize(
    ("channel", "ttl"),
    [
        ("<ttl>30</ttl>", 1800.0),
        ("<ttl> 7.5 </ttl>", 450.0),
        ("<ttl>30</ttl><sy:updatePeriod>daily</sy:updatePeriod>", 1800.0),
        ("<sy:updatePeriod>hourly</sy:updatePeriod>", 3600.0),
        (
            "<sy:updatePeriod>Hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
            1800.0,
        ),
        (
            "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
            21600.0,
        ),
        ("<sy:updatePeriod>weekly</sy:updatePeriod>", 7 * 86400.0),
        ("<sy:updatePeriod>monthly</sy:updatePeriod>", 30 * 86400.0),
        ("<sy:updatePeriod>yearly</sy:updatePeriod>", 365 * 86400.0),
        ("<sy:updateFrequency>2</sy:updateFrequency>", 43200.0),  # period: daily
        ("<ttl>junk</ttl><sy:updatePeriod>hourly</sy:updatePeriod>", 3600.0),
        ("<ttl>0</ttl>", None),
        ("<ttl>-5</ttl>", None),
        ("<ttl>1e9</ttl>", None),
        ("<ttl>inf</ttl>", None),
        ("<ttl>nan</ttl>", None),
        ("<ttl></ttl>", None),
        ("<ttl>999999999999</ttl>", MAX_TTL),
        ("<sy:updatePeriod>fortnightly</sy:updatePeriod>", None),
        (
            "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>0</sy:updateFrequency>",
            None,
        ),
        (
            "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>x</sy:updateFrequency>",
            None,
        ),
        (
            "<sy:updatePeriod>yearly</sy:updatePeriod><sy:updateFrequency>0.5</sy:updateFrequency>",
            MAX_TTL,
        ),
        ("", None),
    ],
)
def test_feed_timing_hints(channel: str, ttl: float | None) -> None:
    parsed = parse_feed(
        rss("<item><title>a</title></item>", channel, SY).encode(), feed="f", url=FEED_URL
    )
    assert parsed.ttl == ttl


def test_timing_hints_are_bounded_on_hostile_values() -> None:
    huge = "9" * 1_000_000
    start = time.perf_counter()
    assert feed_ttl(huge) is None
    assert feed_ttl(" " * 1_000_000 + "30") == 1800.0
    assert feed_ttl(None, "hourly" * 200_000, "1") is None
    assert feed_ttl(None, "hourly", huge) is None
    assert feed_ttl(["30"]) is None
    assert time.perf_counter() - start < 1.0  # about 10 ms


def test_corpus_feeds_hints() -> None:
    def hints(name: str) -> tuple[str | None, float | None]:
        parsed = parse_feed((FEEDS / name).read_bytes(), feed="f", url=FEED_URL)
        return parsed.language, parsed.ttl

    assert hints("rss-parser/guardian.rss") == ("en-gb", None)
    assert hints("miniflux/encoding_ISO-8859-1.xml") == ("de", None)  # Golem.de
    assert hints("rsparser/aktuality.rss") == ("sk", 3600.0)  # dc:language, sy:updatePeriod
    assert hints("miniflux/urdu_UTF8.xml") == ("ur", 900.0)  # <ttl>15</ttl>
    assert hints("rsparser/rubenerd.rss") == ("en-sg", 1800.0)
    assert hints("feedjira/json_feed.json") == ("en-us", None)


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    ("doc", "url", "link"),
    [
        (
            rss("<item><title>a</title><link>/a/1.html</link></item>"),
            FEED_URL,
            "https://news.example/a/1.html",
        ),
        (
            rss("<item><title>a</title><link>a/1.html</link></item>"),
            FEED_URL,
            "https://news.example/feeds/a/1.html",
        ),
        (
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example/b/">'
            '<title>T</title><entry><title>a</title><id>1</id><link href="a/1.html"/>'
            "</entry></feed>",
            FEED_URL,
            "https://blog.example/b/a/1.html",
        ),
        (
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>T</title>'
            '<entry><title>a</title><id>1</id><link href="a/1.html"/></entry></feed>',
            FEED_URL,
            "https://news.example/blog/a/1.html",
        ),
        (
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            '<entry xml:base="https://cdn.example/x/"><title>a</title><id>1</id>'
            '<link href="../y/2.html"/></entry></feed>',
            FEED_URL,
            "https://cdn.example/y/2.html",
        ),
        (
            rss(
                "<item><title>a</title><link>p/3.html</link></item>",
                attrs='xml:base="https://base.example/dir/"',
            ),
            FEED_URL,
            "https://base.example/dir/p/3.html",
        ),
        (
            '{"version": "https://jsonfeed.org/version/1", "feed_url": "https://j.example/f/feed.json",'
            ' "items": [{"id": "1", "url": "../a/1.html", "content_text": "x"}]}',
            FEED_URL,
            "https://j.example/a/1.html",
        ),
        (rss("<item><title>a</title><link>javascript:alert(1)</link></item>"), FEED_URL, None),
    ],
)
def test_relative_links_resolve_without_feedparser_s_resolver(
    doc: str, url: str, link: str | None
) -> None:
    assert [i.link for i in parse(doc, url)] == [link]


def test_html_needs_no_sanitizer_it_becomes_text() -> None:
    # feedparser's sanitizer is off: html_to_text keeps only text, so script, style and
    # markup never reach a rule or an alert, and links inside content are never followed.
    hostile = (
        '<p onclick="steal()">Hello <a href="javascript:alert(1)">there</a></p>'
        "<script>alert('x')</script><style>p{color:red}</style>"
        '<img src="x" onerror="alert(2)"><iframe src="https://evil.example/"></iframe>'
        "<p>World &amp; co</p>"
    )
    doc = rss(
        f"<item><title>a &lt;b&gt;bold&lt;/b&gt;</title><guid>1</guid>"
        f"<description><![CDATA[{hostile}]]></description></item>"
    )
    item = parse(doc)[0]
    assert item.title == "a bold"
    assert item.summary == "Hello there\n\nWorld & co"


@pytest.mark.parametrize(
    "fragment",
    [
        "a" * 1_000_000,
        "." + "a" * 1_000_000 + "!",
        "utm_source=x&" * 100_000,
        "utm_source=x&" * 100_000 + "p=1",
        "more-" + "1" * 1_000_000 + "x",
        "=" * 1_000_000,
        "&" * 1_000_000,
    ],
)
def test_long_hostile_fragments_are_read_in_linear_time(fragment: str) -> None:
    link = f"https://news.example/a#{fragment}"
    start = time.perf_counter()
    canonical = canonical_url(link)
    points_into_page(link)
    assert time.perf_counter() - start < 1.0  # about 20 ms for a megabyte
    assert canonical.startswith("https://news.example/a")


def test_a_link_that_is_not_a_url_points_nowhere() -> None:
    assert not points_into_page("http://[x/#a1")
    assert not points_into_page(None)
    assert canonical_url("http://[x/#a1") == "http://[x/#a1"
