"""Golden pages from the benchmark's dev split: the body matches the hand-checked ground truth
(by the benchmark's own shingle metric) and carries none of the page's boilerplate."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from monitor.extract import extract_article, is_too_little

PAGES = Path(__file__).parent / "data" / "pages"
EXPECTED = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
_TOKEN = re.compile(r"\w+")


def shingle_f1(truth: str, predicted: str, n: int = 4) -> float:
    """F1 of 4-token shingle multisets, as ../shared/bench/extraction/score.py computes it."""

    def shingles(text: str) -> Counter[tuple[str, ...]]:
        tokens = _TOKEN.findall(text)
        if len(tokens) <= n:
            return Counter([tuple(tokens)]) if tokens else Counter()
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    if not tp:
        return 0.0
    precision, recall = tp / sum(p.values()), tp / sum(t.values())
    return 2 * precision * recall / (precision + recall)


def test_shingle_f1_tells_texts_apart() -> None:
    assert shingle_f1("one two three four five", "one two three four five") == 1.0
    assert shingle_f1("one two three four five", "six seven eight nine ten") == 0.0
    assert 0.0 < shingle_f1("one two three four five", "one two three four six") < 1.0


@pytest.mark.parametrize("page_id", sorted(EXPECTED))
def test_golden_page(page_id: str) -> None:
    expected = EXPECTED[page_id]
    html = gzip.decompress((PAGES / f"{page_id}.html.gz").read_bytes()).decode("utf-8")

    article = extract_article(html, url=expected["url"])

    assert shingle_f1(expected["articleBody"], article.text) >= 0.95
    for boilerplate in expected["boilerplate"]:
        assert boilerplate not in article.text
    assert "\n\n" in article.text  # paragraphs stay apart
    assert article.title
    assert not is_too_little(article)
