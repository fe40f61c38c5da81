"""The search page against the real server on both backends: words found without their
accents or in another letter form are marked as written, and a stranger's query input of any
shape gives a page (possibly empty), never an error, with a note when it was read otherwise."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.store import open_store
from tests.web.conftest import make_config, seed, start, stop

ARTICLES = [
    ("Wire", "Markets", "Die Ölpreise stiegen nach dem Treffen in Wien.", None),
    ("Wire", "Protest", "Thousands marched in São Paulo on Sunday.", None),
    ("Gulf", "Talks", "قالت طهرانُ إن المفاوضات ستستمر الأسبوع المقبل", None),
    ("Gulf", "Ceasefire", "NEAR the border col:x the army said; 'quotes' and (brackets).", None),
]


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[str]:
    config = make_config(tmp_path)
    store = open_store(db_url)
    try:
        seed(store, config, ARTICLES, time.time())
    finally:
        store.close()
    proc, url = start(config, db_url, "--listen", "127.0.0.1:0")
    try:
        yield url
    finally:
        stop(proc)


def marks(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", page)]


def note(page: str) -> str | None:
    m = re.search(r'<p class="note" id="search-read-as">(.*?)</p>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


def test_words_found_without_accents_or_in_other_letter_forms_are_marked_as_written(
    site: str,
) -> None:
    for query, marked in (
        ("olpreise", ["Ölpreise"]),
        ("ÖLPREISE wien", ["Ölpreise", "Wien"]),
        ("sao paulo", ["São", "Paulo"]),
        ('"sao paulo"', ["São Paulo"]),
        ("طهران", ["طهرانُ"]),  # the damma in the text, none in the query
    ):
        r = httpx.get(site + "search", params={"q": query})
        assert r.status_code == 200, query
        assert marks(r.text) == marked, query


HOSTILE = [
    # (query, what the note says it searched for: None no note (read as typed), "" no words)
    ('"', ""),
    ('"unbalanced', "unbalanced"),
    ('army "the border', 'army "the border"'),
    ("-", ""),
    ("OR", ""),
    ("OR OR -", ""),
    ("*", ""),
    ("army*", None),
    ("^army", None),
    ("col:x", None),
    ("NEAR(", None),
    ("NEAR(army border)", None),
    ("army AND NOT border", None),
    ("'; DROP TABLE articles; --", "DROP TABLE articles;"),
    ("1' OR '1'='1", None),
    ("army\x00border", "army border"),
    ("army\u202e\u2066border\u2069", None),
    ("\u202earmy\u202c", None),
    ("army " + "x" * 10_000, None),  # searched as cut, with its own note
]


def test_any_query_input_gives_a_page_with_a_note_when_read_otherwise(site: str) -> None:
    with httpx.Client() as client:
        for query, read_as in HOSTILE:
            r = client.get(site + "search", params={"q": query})
            assert r.status_code == 200, query
            assert '<ol class="hits">' in r.text, query
            said = note(r.text)
            if read_as is None:
                assert said is None, (query, said)
            elif read_as == "":
                assert said is not None and "no words to search for" in said, (query, said)
            else:
                assert said is not None and f"Searched for {read_as} (" in said, (query, said)
            assert ("search-cut" in r.text) == (len(query) > 500), query
        still = client.get(site + "search", params={"q": "army"})  # and nothing was harmed
        assert marks(still.text) == ["army"]
