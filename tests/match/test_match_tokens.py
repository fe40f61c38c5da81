"""The one tokenizer: normalisation table, offsets, sentences and paragraphs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_reference import reference_tokenize

from monitor.match.tokens import query_tokens, tokenize, units

NORMALISED = [
    ("al-Qaida", ["al", "qaida"]),
    ("al- Qaida", ["al", "qaida"]),
    ("Al Qaeda’s", ["al", "qaeda"]),
    ("Al-Qaeda's", ["al", "qaeda"]),
    ("Al-Qa'ida", ["al", "qaida"]),
    ("Al-Qa’ida", ["al", "qaida"]),
    ("Iran-al-Qaida", ["iran", "al", "qaida"]),
    ("Iran-based", ["iran", "based"]),
    ("Iran\u2011based", ["iran", "based"]),  # non-breaking hyphen
    ("al\u00adQaida", ["alqaida"]),  # soft hyphen dropped
    ("Ẓarīf", ["zarif"]),
    ("Erdoğan", ["erdogan"]),
    ("ÉLYSÉE", ["elysee"]),
    ("Straße", ["strasse"]),
    ("ﬁnance", ["finance"]),  # NFKC ligature
    ("ＩＲＡＮ", ["iran"]),  # full-width
    ("القاعدة", ["القاعده"]),  # teh marbuta folds to heh (docs/rules.md)
    ("Москва, Кремль", ["москва", "кремль"]),
    ("Αθήνα", ["αθηνα"]),
    ("تهران", ["تهران"]),
    ("snake_case", ["snake", "case"]),
    ("9/11", ["9", "11"]),
    ("rock 'n' roll", ["rock", "n", "roll"]),
    ("it's", ["it"]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISED)
def test_normalisation(text: str, expected: list[str]) -> None:
    assert query_tokens(text) == tuple(expected)


def test_exact_tokens_keep_case() -> None:
    assert query_tokens("AQ [Al Qaeda]", exact=True) == ("AQ", "Al", "Qaeda")
    assert query_tokens("WHO’s", exact=True) == ("WHO",)


@pytest.mark.parametrize(
    "text",
    ["Al Qaeda’s men", "Ẓarīf said", "e\u0301te\u0301 here", "a\u00a0b", "x ´y", "Iran's Qa'ida"],
)
def test_offsets_point_into_the_original(text: str) -> None:
    t = tokenize(text)
    for (start, end), folded in zip(t.spans, t.folded, strict=True):
        assert query_tokens(text[start:end]) == (folded,)


def test_offsets_of_possessive_and_apostrophes() -> None:
    text = "Iran's link to Al-Qa'ida"
    t = tokenize(text)
    assert [text[a:b] for a, b in t.spans] == ["Iran", "link", "to", "Al", "Qa'ida"]


UNITS = [
    # (text, sentence ids, paragraph ids)
    ("One two. Three four", [0, 0, 1, 1], [0, 0, 0, 0]),
    ("In the U.S. Treasury today", [0, 0, 0, 0, 0, 0], [0] * 6),
    ("Mr. Pompeo spoke on Sept. 11", [0] * 6, [0] * 6),
    ("J. Smith came. Then left", [0, 0, 0, 1, 1], [0] * 5),
    ("Really? Yes! Sure.", [0, 1, 2], [0, 0, 0]),
    ("It rose 3.5 percent", [0] * 5, [0] * 5),
    ("He said “go.” Then", [0, 0, 0, 1], [0] * 4),
    ("First line\nsame paragraph", [0, 0, 0, 0], [0, 0, 0, 0]),
    ("Para one\n\nPara two", [0, 0, 1, 1], [0, 0, 1, 1]),
    ("Para one\n   \nPara two", [0, 0, 1, 1], [0, 0, 1, 1]),
]


@pytest.mark.parametrize(("text", "sentences", "paragraphs"), UNITS)
def test_sentences_and_paragraphs(text: str, sentences: list[int], paragraphs: list[int]) -> None:
    assert units(text, tokenize(text)) == (sentences, paragraphs)


WORKLOAD = Path(__file__).resolve().parents[3] / "shared/bench/matching/workload.py"

alphabet = st.sampled_from(
    [*"aZq Q-'’‘`´\u2011\u00ad.,\n_9sS", "é", "e\u0301", "ß", "İ", "ﬁ", "Ｑ", "ق", "ж", "Ω", "ا"]
)


@pytest.mark.skipif(not WORKLOAD.exists(), reason="shared benchmark workload not present")
@settings(max_examples=400, deadline=None)
@given(st.lists(alphabet, max_size=40).map("".join))
def test_same_tokens_as_the_workload_reference(text: str) -> None:
    sys.path.insert(0, str(WORKLOAD.parent))
    try:
        import workload
    finally:
        sys.path.remove(str(WORKLOAD.parent))
    exact, folded = workload.tokenize(text)
    t = tokenize(text)
    assert (t.exact, t.folded) == (exact, folded)


RICH = st.sampled_from(
    [
        *"aZq Q-'’‘`´\u2011\u00ad.,\n\t_9sS…½ﬁßİ",
        *["é", "e\u0301", "\u0301", "\u0316", "\u0345", "\u0f73", "\uff9e", "ｶ", "가", "\u1100"],
        *["\u1161", "\u11a8", "ق", "ж", "Ω", "ا", "\u00a0", "\u2003", "\x1c", "\u200b", "⒈"],
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(RICH, max_size=40).map("".join))
def test_same_tokens_and_offsets_as_the_cluster_by_cluster_tokenizer(text: str) -> None:
    """Normalising character by character gives the tokens and offsets of the first
    tokenizer (cluster by cluster, or the whole chunk when that differs)."""
    t, r = tokenize(text), reference_tokenize(text)
    assert (t.exact, t.folded, t.spans) == (r.exact, r.folded, r.spans)


NO_SPACE = RICH.filter(lambda s: not s.isspace())


@settings(max_examples=200, deadline=None)
@given(st.lists(NO_SPACE, min_size=300, max_size=700).map("".join))
def test_long_chunks_have_the_same_tokens_and_offsets_too(text: str) -> None:
    """Chunks longer than MAX_WHOLE are not checked against their normalisation as a whole."""
    t, r = tokenize(text), reference_tokenize(text)
    assert (t.exact, t.folded, t.spans) == (r.exact, r.folded, r.spans)
