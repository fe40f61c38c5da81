"""Operator site overrides from feeds.yaml: `extract: {selector: ..., remove: [...]}`."""

from __future__ import annotations

from monitor.extract import extract_article

STORY = "The harbour reopened on Monday after a week of storms had kept every ship in port."
PAGE = f"""<html><body>
<div class="main"><p>{"Long sidebar essay that an extractor might mistake for the story. " * 12}</p>
</div>
<div class="story-body"><p>{STORY}</p><div class="related">Related: harbour history</div>
<p>Fishing crews were the first to leave.</p></div>
</body></html>"""


def test_selector_takes_the_body_from_its_match() -> None:
    article = extract_article(PAGE, selector="div.story-body")

    assert article.text.startswith(STORY)
    assert "Fishing crews were the first to leave." in article.text
    assert "sidebar essay" not in article.text


def test_remove_drops_nodes_first() -> None:
    article = extract_article(PAGE, selector="div.story-body", remove=[".related"])

    assert article.text == f"{STORY}\n\nFishing crews were the first to leave."


def test_without_overrides_the_longer_text_wins() -> None:
    assert "sidebar essay" in extract_article(PAGE).text


def test_selector_matching_nothing_falls_back_to_the_page() -> None:
    assert "sidebar essay" in extract_article(PAGE, selector="div.nowhere").text


def test_invalid_selectors_are_ignored() -> None:
    article = extract_article(PAGE, selector="div[[", remove=["::::"])

    assert "sidebar essay" in article.text


def test_nested_matches_are_taken_once() -> None:
    html = f"<div class=x><div class=x><p>{STORY}</p></div></div>"
    assert extract_article(html, selector=".x").text == STORY
