"""The two reference articles (tests/match/data), spans, snippets, reports and explanations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.match import Matcher
from monitor.match.report import COMPACT, format_match_text, match_json, match_to_json
from monitor.models import Document, EntityConfig, RuleConfig, Snippet

DATA = Path(__file__).parents[1] / "data" / "articles"  # the reference articles, shared
ENTITIES = {
    "iran": EntityConfig("iran", ("Iran", "Iranian", "Tehran", "Islamic Republic")),
    "al-qaida": EntityConfig(
        "al-qaida", ("al-Qaida", "al-Qaeda", "al-Qa'ida", "Al Qaeda"), ("AQ",)
    ),
}
RULE = RuleConfig(name="iran-aq", query="@iran NEAR/20 @al-qaida", channels=("desk",))
MATCHER = Matcher.build([RULE], ENTITIES)
OTHER = RuleConfig(name='r\u00e9gle "2"', query="iran OR qaida", channels=("a", "b\\c"))


def article(name: str) -> Document:
    title, _, body = (DATA / name).read_text(encoding="utf-8").partition("\n")
    return Document(id=name, title=title, text=body)


# Every spelling each article uses, as written, that the rule must find.
SPELLINGS = {
    "iran-rejects-al-qaeda-ties.txt": {"Al-Qaeda", "AQ", "Al Qaeda", "Iran", "Iranian"},
    "pompeo-iran-al-qaida-debate.txt": {
        "al-Qaida",
        "Al-Qaida",
        "Al Qaeda",
        "al- Qaida",
        "Iran",
        "Iranian",
        "Tehran",
    },
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_reference_articles_match_with_every_spelling(name: str) -> None:
    [m] = MATCHER.match(article(name))
    assert m.rule == "iran-aq" and m.channels == ("desk",)
    assert {s.text for s in m.spans} >= SPELLINGS[name]
    assert min(m.distances) <= 20
    doc = article(name)
    for s in m.spans:
        assert (doc.title if s.field == "title" else doc.text)[s.start : s.end] == s.text
        assert s.operand in ("@iran", "@al-qaida")


def test_possessives_and_curly_apostrophes_are_found() -> None:
    doc = article("pompeo-iran-al-qaida-debate.txt")
    [m] = MATCHER.match(doc)
    texts = [doc.text[s.start : s.end + 2] for s in m.spans if s.text == "Al Qaeda"]
    assert "Al Qaeda’s" in texts  # the span covers the name, the possessive follows


def test_snippets_highlight_the_matched_words() -> None:
    [m] = MATCHER.match(article("iran-rejects-al-qaeda-ties.txt"))
    assert 1 <= len(m.snippets) <= 3
    for snippet in m.snippets:
        words = {snippet.text[a:b] for a, b in snippet.highlights}
        assert words <= {
            "Iran",
            "Iranian",
            "Tehran",
            "Islamic Republic",
            "Al-Qaeda",
            "AQ",
            "Al Qaeda",
        }
        assert words
    # the best snippet holds both entities
    best = m.snippets[0]
    found = {best.text[a:b] for a, b in best.highlights}
    assert found & {"Iran", "Iranian", "Tehran"} and found & {"Al-Qaeda", "AQ", "Al Qaeda"}


def test_json_and_text_reports() -> None:
    [m] = MATCHER.match(
        Document(id="x", title="", text="Tehran denies hosting al-Qaida, officials say.")
    )
    j = match_to_json(m)
    assert j["article_id"] == "x" and j["rule"] == "iran-aq"
    assert j["spans"] == {
        "@iran": [["body", 0, 6, "Tehran"]],
        "@al-qaida": [["body", 22, 30, "al-Qaida"]],
    }
    assert j["snippet"] == "[[Tehran]] denies hosting [[al-Qaida]], officials say."
    assert "snippets" not in j  # one snippet is enough for a listing
    assert m.snippets == (
        Snippet("body", "Tehran denies hosting al-Qaida, officials say.", ((0, 6), (22, 30))),
    )
    assert j["distances"] == [2] and j["channels"] == ["desk"]
    assert format_match_text(m) == (
        "iran-aq matched x\n"
        "  operands: @al-qaida, @iran\n"
        "  NEAR distances: 2\n"
        "  body: [[Tehran]] denies hosting [[al-Qaida]], officials say."
    )


def test_evidence_keeps_every_spelling_and_at_most_five_words_per_operand() -> None:
    body = "Tehran and al-Qaida. " * 10 + "Iran, Iranian, al-Qaeda, AQ and Islamic Republic."
    [m] = MATCHER.match(Document(id="x", title="", text=body))
    by_operand = {op: [s.text for s in m.spans if s.operand == op] for op in ("@iran", "@al-qaida")}
    assert by_operand == {
        "@iran": ["Tehran", "Tehran", "Iran", "Iranian", "Islamic Republic"],
        "@al-qaida": ["al-Qaida", "al-Qaida", "al-Qaida", "al-Qaeda", "AQ"],
    }
    assert m.distances == (0,)  # "al-Qaida. Tehran"


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_match_json_is_the_json_of_match_to_json(name: str) -> None:
    quoted = Document(id='a"\\b', title='"Iran" — and al-Qaida’s\tmen', text="")
    for doc in (article(name), quoted, article(name)):  # the second time from the cache
        for m in MATCHER.match(doc) + Matcher.build([RULE, OTHER], ENTITIES).match(doc):
            assert match_json(m) == json.dumps(match_to_json(m), separators=COMPACT)


def test_long_snippets_are_cut_at_words() -> None:
    body = "word " * 100 + "Tehran and al-Qaida" + " filler" * 100
    [m] = MATCHER.match(Document(id="x", title="", text=body))
    [snippet] = m.snippets
    assert snippet.text.startswith("…word ") and snippet.text.endswith("filler…")
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["Tehran", "al-Qaida"]


def test_explain_a_failed_near() -> None:
    doc = Document(id="x", title="Iran", text="Tehran said. " + "x " * 30 + "al-Qaida")
    text = MATCHER.explain("iran-aq", doc)
    assert text.splitlines()[:3] == [
        "rule 'iran-aq': @iran NEAR/20 @al-qaida",
        "NOT MATCHED: the parts marked ✗ failed",
        "  ✗ @iran NEAR/20 @al-qaida: closest pair is 31 words apart, more than 20",
    ]
    assert '@iran: found 2 times: "Iran" (title), "Tehran" (body)' in text
    assert '@al-qaida: found 1 time: "al-Qaida" (body)' in text


def test_explain_a_match_and_filters() -> None:
    rules = [RuleConfig(name="r", query="iran NOT sanctions", feeds=("wire",))]
    m = Matcher.build(rules, ENTITIES)
    hit = Document(id="x", title="", text="Iran votes", feed="wire")
    assert m.explain("r", hit).splitlines() == [
        "rule 'r': iran NOT sanctions",
        "MATCHED",
        "  ✓ all of:",
        '    ✓ iran: found 1 time: "Iran" (body)',
        "    ✓ NOT sanctions (sanctions is absent)",
    ]
    other = Document(id="x", title="", text="Iran votes", feed="blog")
    assert m.explain("r", other).splitlines()[1] == (
        "NOT MATCHED: the rule's filters skip this article: "
        "feed 'blog' is not one of the rule's feeds (wire)"
    )
    with pytest.raises(KeyError):
        m.explain("nope", hit)


def test_explain_missing_operand_and_negation() -> None:
    m = Matcher.build([RuleConfig(name="r", query="iran NOT sanctions")], ENTITIES)
    text = m.explain("r", Document(id="x", title="Sanctions", text="Iran"))
    assert "NOT MATCHED: the parts marked ✗ failed" in text
    assert "✗ NOT sanctions (sanctions is found)" in text
    assert 'found: "Sanctions" (title)' in text


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_a_listing_can_ask_for_the_best_snippet_only(name: str) -> None:
    doc = article(name)
    [full] = MATCHER.match(doc)
    [shared] = MATCHER.match_shared(doc, snippets=1)
    assert len(full.snippets) > 1  # the article has more than one place to show
    assert shared.snippets == full.snippets[:1] and shared.spans == full.spans
