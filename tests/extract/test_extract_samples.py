"""The two sample articles wrapped in the boilerplate real news pages carry: the body comes
back whole (every sentence) and nothing else does."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from monitor.extract import extract_article

ARTICLES = Path(__file__).parents[1] / "data" / "articles"  # shared with the other suites
COMMENT_LINES = (
    "Add new comment",
    "Read our comment policy before posting your viewpoints",
    "Comments are closed.",
)
BOILERPLATE = (
    "Home",
    "World News",
    "Subscribe to our daily briefing",
    "We use cookies to improve your experience",
    "Accept all cookies",
    "Oil prices jump as Gulf tensions rise",
    "Related stories",
    "Share on Facebook",
    "Add new comment",
    "Read our comment policy",
    "Comments are closed.",
    "All rights reserved",
    "Terms of use",
    "Advertisement",
    *COMMENT_LINES,
)


def load(name: str) -> tuple[str, list[str]]:
    """The article's title and its body lines (without the trailing comment boilerplate)."""
    text = (ARTICLES / name).read_text(encoding="utf-8").replace("Comments are closed.", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines[0]
    body = [line for line in lines[1:] if line != title and line not in COMMENT_LINES]
    return title, body


def page(title: str, body: list[str]) -> str:
    """A news page around the article, with the usual furniture."""
    paragraphs = "\n".join(
        f"<h2>{html.escape(line)}</h2>"
        if len(line) < 60 and not line.endswith(".")
        else f"<p>{html.escape(line)}</p>"
        for line in body
    )
    related = "".join(
        f'<li><a href="/news/{i}">{headline}</a></li>'
        for i, headline in enumerate(
            ["Oil prices jump as Gulf tensions rise", "Iran's parliament passes budget bill",
             "Europe urges restraint after tanker incident", "Markets steady ahead of talks"]
        )
    )  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} | World News</title>
<meta property="og:site_name" content="World News"></head>
<body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
 <button>Accept all cookies</button> <a href="/privacy">Privacy policy</a></div>
<header class="site-header"><a href="/" class="logo">World News</a>
<nav class="main-menu"><ul><li><a href="/">Home</a></li><li><a href="/world">World News</a></li>
<li><a href="/politics">Politics</a></li><li><a href="/business">Business</a></li></ul></nav>
</header>
<div class="layout">
<main>
<article>
<h1>{html.escape(title)}</h1>
<div class="byline">By Staff Writer, updated 2 hours ago</div>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a></div>
<div class="article-body">
{paragraphs}
<div class="ad-slot">Advertisement</div>
</div>
<aside class="newsletter-box"><h3>Subscribe to our daily briefing</h3>
<p>The day's top stories, straight to your inbox every morning.</p>
<form><input type="email"><button>Sign up</button></form></aside>
</article>
<section class="related-stories"><h3>Related stories</h3><ul>{related}</ul></section>
<section id="comments" class="comments"><h3>Add new comment</h3>
<p>Read our comment policy before posting your viewpoints.</p>
<form><textarea></textarea><button>Post</button></form>
<p class="closed">Comments are closed.</p></section>
</main>
<aside class="sidebar"><h3>Most read</h3><ol>{related}</ol></aside>
</div>
<footer><p>© 2021 World News. All rights reserved.</p>
<a href="/terms">Terms of use</a> <a href="/contact">Contact</a></footer>
</body></html>"""


@pytest.mark.parametrize("name", sorted(p.name for p in ARTICLES.glob("*.txt")))
def test_sample_article_in_page(name: str) -> None:
    title, body = load(name)

    article = extract_article(page(title, body), url="https://news.example/a/1")

    assert article.title == title
    for line in body:
        assert line in article.text
    for boilerplate in BOILERPLATE:
        assert boilerplate not in article.text
    assert article.text.count("\n\n") >= len(body) - 1
    assert article.language == "en"
