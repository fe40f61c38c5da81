"""is_too_little: when the page gives too little, the pipeline falls back to the feed's text."""

from __future__ import annotations

import pytest

from monitor.extract import extract_article, is_too_little
from monitor.models import Article

ARTICLE = "<p>The harbour reopened on Monday after a week of storms had kept ships in port.</p>"

PAYWALL = f"""<html><body><article><h1>Harbour reopens</h1>{ARTICLE}
<div class="paywall-prompt">Subscribe to continue reading. Already a subscriber? Log in.</div>
</article></body></html>"""
SCRIPT_RENDERED = """<html><body><div id="root"></div><noscript>You need to enable JavaScript
to run this app.</noscript><script>window.__DATA__={"story": "..."}</script></body></html>"""
CONSENT_WALL = """<html><body><div class="consent-wall"><h2>We value your privacy</h2>
<p>We and our partners use cookies to store and access information on your device.</p>
<button>Accept</button><button>Manage options</button></div></body></html>"""
FULL = "<html><body><article>{}</article></body></html>".format(
    "".join(ARTICLE.replace("Monday", day) for day in ("Monday", "Tuesday", "Friday", "Sunday"))
)


@pytest.mark.parametrize("page", [PAYWALL, SCRIPT_RENDERED, CONSENT_WALL])
def test_walls_give_too_little(page: str) -> None:
    assert is_too_little(extract_article(page))


def test_a_whole_article_is_enough() -> None:
    assert not is_too_little(extract_article(FULL))


def test_unspaced_scripts_count_characters() -> None:
    chinese = "港口在周一重新开放，此前一周的风暴使所有船只都停在港内。" * 3
    assert not is_too_little(Article(text=chinese))
    assert is_too_little(Article(text=chinese[:20]))


def test_threshold_is_adjustable() -> None:
    article = Article(text="one two three")
    assert is_too_little(article)
    assert not is_too_little(article, min_words=3)
