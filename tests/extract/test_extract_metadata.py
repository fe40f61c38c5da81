"""Metadata: JSON-LD first, then OpenGraph/meta, then the markup (`<time>`, `<html lang>`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from monitor.extract import extract_article

BODY = "<article>" + "<p>The council voted on the new budget late on Tuesday night.</p>" * 8
BODY += "</article>"


def test_json_ld_news_article() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Example News"},
            {
                "@type": "NewsArticle",
                "headline": "Council passes budget &amp; tax plan",
                "datePublished": "2021-01-12T09:30:00+02:00",
                "author": [{"@type": "Person", "name": "Ana Lima"}, {"name": "Bo Chen"}],
                "image": {"@type": "ImageObject", "url": "/img/council.jpg"},
                "inLanguage": "pt-BR",
                "description": "The vote came after a long debate.",
            },
        ],
    }
    html = f"""<html lang="en"><head><title>Other title | Example News</title>
    <meta property="og:title" content="OG title">
    <script type="application/ld+json">{json.dumps(ld)}</script></head><body>{BODY}</body></html>"""

    article = extract_article(html, url="https://news.example/politics/budget")

    assert article.title == "Council passes budget & tax plan"
    assert article.published == datetime(2021, 1, 12, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert article.authors == ("Ana Lima", "Bo Chen")
    assert article.image == "https://news.example/img/council.jpg"
    assert article.language == "pt"
    assert article.description == "The vote came after a long debate."


def test_opengraph_and_meta_fallbacks() -> None:
    html = f"""<html><head><title>Site title</title>
    <meta property="og:title" content="Budget passes">
    <meta property="og:description" content="A late vote.">
    <meta property="og:image" content="https://cdn.example/b.jpg">
    <meta property="article:published_time" content="2021-01-12T07:30:00Z">
    <meta name="author" content="Ana Lima">
    <meta http-equiv="content-language" content="fr">
    <link rel="canonical" href="/politics/budget">
    </head><body>{BODY}</body></html>"""

    article = extract_article(html, url="https://news.example/amp/budget?utm=x")

    assert article.title == "Budget passes"
    assert article.description == "A late vote."
    assert article.image == "https://cdn.example/b.jpg"
    assert article.published == datetime(2021, 1, 12, 7, 30, tzinfo=UTC)
    assert article.authors == ("Ana Lima",)
    assert article.language == "fr"
    assert article.canonical_url == "https://news.example/politics/budget"


def test_time_element_and_title_without_site_name() -> None:
    html = f"""<html lang="en-GB"><head><title>Budget passes | Example News</title>
    <meta property="og:site_name" content="Example News"></head>
    <body><time datetime="2021-01-12 07:30">12 Jan</time>{BODY}</body></html>"""

    article = extract_article(html)

    assert article.title == "Budget passes"
    assert article.published == datetime(2021, 1, 12, 7, 30, tzinfo=UTC)
    assert article.language == "en"


def test_language_detected_when_undeclared() -> None:
    paragraph = (
        "<p>Le conseil municipal a adopté le nouveau budget mardi soir après un long débat "
        "sur les impôts locaux et les transports publics de la ville.</p>"
    )
    article = extract_article(f"<html><body><article>{paragraph * 5}</article></body></html>")

    assert article.language == "fr"


def test_broken_json_ld_is_ignored() -> None:
    html = f"""<html><head><script type="application/ld+json">{{"@type": "NewsArticle",
    "headline": </script><meta property="og:title" content="Fallback"></head>
    <body>{BODY}</body></html>"""

    assert extract_article(html).title == "Fallback"


def test_json_ld_body_used_when_page_hides_it() -> None:
    ld = {"@type": "NewsArticle", "headline": "Budget", "articleBody": "Para one. " * 60}
    html = f"""<html><head><script type="application/ld+json">{json.dumps(ld)}</script></head>
    <body><div class="paywall">Subscribe to read the full story.</div></body></html>"""

    assert extract_article(html).text.startswith("Para one. Para one.")
