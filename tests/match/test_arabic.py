"""Arabic and Persian spellings (issue 15), table-driven: each folding, each proclitic,
positive and negative, in titles and bodies, NEAR/n counting words as a reader does, and
highlights on the words as written.

Every matching row is checked against both the Matcher and the plain reference evaluator.
"""

from __future__ import annotations

import pytest
from match_reference import matches as reference_matches

from monitor.match import Matcher
from monitor.match.clitics import clitic_forms
from monitor.match.query import parse_query
from monitor.match.tokens import query_tokens, tokenize, units
from monitor.models import Document, EntityConfig, RuleConfig

ENTITIES = {
    e.id: e
    for e in [
        EntityConfig("al-qaida", ("al-Qaida", "القاعدة")),
        EntityConfig("iran", ("Iran", "إيران", "ایران")),
        EntityConfig("oil", ("نفط",)),  # a common noun: written with and without ال
        EntityConfig("lebanon", ("لبنان",)),  # starts with ل: ل + لبنان is للبنان
        EntityConfig("tanzim", ("تنظيم القاعدة",)),  # a phrase: proclitics on its first word
        EntityConfig("musa", ("موسى",)),
        EntityConfig("kerman", ("كرمان",)),  # Arabic kaf; Persian writes keheh
        EntityConfig("aq-exact", (), ("القاعدة",)),  # exact: no proclitics
        EntityConfig("saud", ("آل سعود",)),  # آل ("family of") is a word, not the article
    ]
}

# ----------------------------------------------------------------------------- folding

FOLDING = [
    # (written, the same word in another spelling): both are one token, the same one
    ("إيران", "ايران"),  # alef with hamza below
    ("أفغانستان", "افغانستان"),  # alef with hamza above
    ("آمل", "امل"),  # alef with madda
    ("ٱلقاعدة", "القاعدة"),  # alef wasla
    ("القاعدة", "القاعده"),  # teh marbuta: Persian writes heh
    ("مصطفى", "مصطفي"),  # alef maksura
    ("موسی", "موسى"),  # Persian yeh, Arabic alef maksura
    ("ایران", "إيران"),  # Persian yeh, Arabic yeh
    ("کرمان", "كرمان"),  # keheh, kaf
    ("خانۀ", "خانه"),  # heh with yeh above (ezafe)
    ("القـــاعدة", "القاعدة"),  # tatweel
    ("إيرانُ", "إيران"),  # damma
    ("القاعدةِ", "القاعدة"),  # kasra
    ("مُحَمَّدٌ", "محمد"),  # damma, fatha, shadda, dammatan
    ("ﺍﻟﻘﺎﻋﺪﺓ", "القاعدة"),  # presentation forms
    ("مسؤول", "مسوول"),  # hamza on waw
    ("٢٠٢٤", "2024"),  # Arabic-Indic digits
    ("۱۴۰۳", "1403"),  # Persian digits
    ("می\u200cگوید", "میگوید"),  # ZWNJ inside a Persian word: one word
    ("احمدی\u200cنژاد", "احمدینژاد"),
]


@pytest.mark.parametrize(("written", "other"), FOLDING)
def test_each_folding_makes_one_token(written: str, other: str) -> None:
    assert len(query_tokens(written)) == 1
    assert query_tokens(written) == query_tokens(other)
    assert query_tokens(written, exact=True) == query_tokens(other, exact=True)


@pytest.mark.parametrize(("written", "_"), FOLDING)
def test_offsets_point_at_the_word_as_written(written: str, _: str) -> None:
    text = f"قال {written}، ثم"
    t = tokenize(text)
    assert [text[a:b] for a, b in t.spans] == ["قال", written, "ثم"]


def test_different_letters_stay_different() -> None:
    # folding is not a stemmer: ه and ة fold together, but ت (teh) stays a letter of its own
    assert query_tokens("القاعدة") != query_tokens("القاعدت")
    assert query_tokens("ایران") != query_tokens("ايرانی")  # Iran, Iranian
    assert query_tokens("٢٠٢٤") != query_tokens("٢٠٢٥")


def test_arabic_question_mark_and_full_stop_end_sentences() -> None:
    text = "هل تدعم إيران؟ القاعدة تنفي۔ ثم"
    sentences, _ = units(text, tokenize(text))
    assert sentences == [0, 0, 0, 1, 1, 2]


# ----------------------------------------------------------------------------- proclitics

PROCLITICS = [
    # (written, the entity it is, a gloss)
    ("القاعدة", "al-qaida", "al-Qaida"),
    ("القاعده", "al-qaida", "al-Qaida, Persian spelling"),
    ("والقاعدة", "al-qaida", "and al-Qaida"),
    ("فالقاعدة", "al-qaida", "so al-Qaida"),
    ("بالقاعدة", "al-qaida", "with al-Qaida"),
    ("كالقاعدة", "al-qaida", "like al-Qaida"),
    ("للقاعدة", "al-qaida", "for al-Qaida: ل + ال is لل"),
    ("وبالقاعدة", "al-qaida", "and with al-Qaida"),
    ("وللقاعدة", "al-qaida", "and for al-Qaida"),
    ("فللقاعدة", "al-qaida", "so for al-Qaida"),
    ("فبالقاعدة", "al-qaida", "so with al-Qaida"),
    ("وإيران", "iran", "and Iran"),
    ("فإيران", "iran", "so Iran"),
    ("بإيران", "iran", "in Iran"),
    ("كإيران", "iran", "like Iran"),
    ("لإيران", "iran", "for Iran"),
    ("وبإيران", "iran", "and in Iran"),
    ("ولإيران", "iran", "and for Iran"),
    ("فلإيران", "iran", "so for Iran"),
    ("وایران", "iran", "and Iran, Persian yeh"),
    ("النفط", "oil", "the oil: ال where the alias has none"),
    ("والنفط", "oil", "and the oil"),
    ("بالنفط", "oil", "with the oil"),
    ("كالنفط", "oil", "like the oil"),
    ("للنفط", "oil", "for the oil: ل + ال is لل"),
    ("وبالنفط", "oil", "and with the oil"),
    ("وللنفط", "oil", "and for the oil"),
    ("فالنفط", "oil", "so the oil"),
    ("ونفط", "oil", "and oil"),
    ("للبنان", "lebanon", "for Lebanon"),
    ("ولبنان", "lebanon", "and Lebanon"),
    ("ولآل سعود", "saud", "and for the Al Saud"),
    ("موسي", "musa", "Musa, yeh for alef maksura"),
    ("موسی", "musa", "Musa, Persian yeh"),
    ("کرمان", "kerman", "Kerman, Persian keheh"),
    ("وکرمان", "kerman", "and Kerman"),
]

NOT_PROCLITICS = [
    # (written, the entity it is not, why)
    ("الإيرانية", "iran", "Iranian (f.): a longer word, not Iran with ال"),
    ("الإيرانيين", "iran", "Iranians"),
    ("إيرانية", "iran", "Iranian (f.)"),
    ("وإيرانية", "iran", "and Iranian"),
    ("الأسواق", "oil", "the markets: ال before another word"),
    ("النفطية", "oil", "oil (adj.), a longer word"),
    ("المنطقة", "oil", "the region"),
    ("النفطي", "oil", "oil (adj.)"),
    ("قاعدة", "al-qaida", "a base: القاعدة without its ال is another word"),
    ("وقاعدة", "al-qaida", "and a base"),
    ("بقاعدة", "al-qaida", "with a base"),
    ("لقاعدة", "al-qaida", "for a base"),
    ("القاعدتين", "al-qaida", "the two bases"),
    ("ولالقاعدة", "al-qaida", "ل before ال drops the alef: not a written form"),
    ("سالقاعدة", "al-qaida", "س is no proclitic of a noun"),
    ("الوإيران", "iran", "the article comes after the conjunction, not before"),
    ("بوإيران", "iran", "the conjunction comes first"),
    ("ايرانو", "iran", "letters after the word"),
    ("بالقاعدة", "aq-exact", "exact aliases take no proclitics"),
    ("والقاعدة", "aq-exact", "exact aliases take no proclitics"),
    ("لبنانيون", "lebanon", "Lebanese"),
    ("آل", "saud", "half a phrase"),
]


def build(query: str) -> Matcher:
    return Matcher.build([RuleConfig(name="r", query=query)], ENTITIES)


def doc(title: str, body: str) -> Document:
    return Document(id="d", title=title, text=body)


def matched_words(query: str, title: str, body: str) -> list[str] | None:
    """The words the rule highlights, or None when it does not match; checks that the
    reference evaluator agrees on whether it matches."""
    found = build(query).match(doc(title, body))
    reference = reference_matches(parse_query(query, ENTITIES), title, body, ENTITIES)
    assert bool(found) == reference
    return [s.text for s in found[0].spans] if found else None


@pytest.mark.parametrize("where", ["title", "body"])
@pytest.mark.parametrize(("written", "entity", "gloss"), PROCLITICS)
def test_each_proclitic_matches_the_whole_written_word(
    written: str, entity: str, gloss: str, where: str
) -> None:
    text = f"قال المتحدث إن {written} أعلنت"
    title, body = (text, "") if where == "title" else ("", text)
    assert matched_words(f"@{entity}", title, body) == [written], gloss


@pytest.mark.parametrize("where", ["title", "body"])
@pytest.mark.parametrize(("written", "entity", "why"), NOT_PROCLITICS)
def test_no_other_word_matches(written: str, entity: str, why: str, where: str) -> None:
    text = f"قال المتحدث إن {written} أعلنت"
    title, body = (text, "") if where == "title" else ("", text)
    assert matched_words(f"@{entity}", title, body) is None, why


def test_exact_alias_matches_as_written() -> None:
    assert matched_words("@aq-exact", "", "قال القاعدة") == ["القاعدة"]
    assert matched_words("@aq-exact", "", "قال القاعده") == ["القاعده"]  # folding applies


WORDS = [
    # (query, body, words the rule highlights or None): words, phrases and prefixes too
    ("القاعدة", "هجوم للقاعدة", ["للقاعدة"]),
    ("إيران", "وإيران ترد", ["وإيران"]),
    ('"تنظيم القاعدة"', "قادة في تنظيم القاعدة", ["تنظيم القاعدة"]),
    ('"تنظيم القاعدة"', "قادة لتنظيم القاعدة", ["لتنظيم القاعدة"]),
    ('"تنظيم القاعدة"', "قادة والتنظيم القاعدة", ["والتنظيم القاعدة"]),
    ("@tanzim", "ضربة لتنظيم القاعدة", ["لتنظيم القاعدة"]),
    ("@tanzim", "التنظيم وقاعدة", None),
    ("إيراني*", "قال الإيرانيون", ["الإيرانيون"]),  # a prefix: any word it starts
    ("إيراني*", "قال الإيرانيون", ["الإيرانيون"]),
    ("إيراني*", "قال فرانيون", None),
    ("2024", "في عام ٢٠٢٤ قال", ["٢٠٢٤"]),
    ("2024", "در سال ۲۰۲۴ گفت", ["۲۰۲۴"]),
    ("میگوید", "او می\u200cگوید که", ["می\u200cگوید"]),
    ("می\u200cگوید", "او میگوید که", ["میگوید"]),
    ("گوید", "او می\u200cگوید که", None),  # one word: not the half after the ZWNJ
]


@pytest.mark.parametrize(("query", "body", "expected"), WORDS)
def test_words_phrases_and_prefixes(query: str, body: str, expected: list[str] | None) -> None:
    assert matched_words(query, "", body) == expected


# ----------------------------------------------------------------------------- NEAR

NEAR = [
    # (query, title, body, matches?): a clitic is part of its word, never a word of its own
    # وإيران(0) تتهم(1) الولايات(2) المتحدة(3) بدعم(4) القاعدة(5): four words between
    ("@iran NEAR/4 @al-qaida", "", "وإيران تتهم الولايات المتحدة بدعم القاعدة", True),
    ("@iran NEAR/3 @al-qaida", "", "وإيران تتهم الولايات المتحدة بدعم القاعدة", False),
    ("@iran NEAR/0 @al-qaida", "", "إيران والقاعدة", True),
    ("@iran NEAR/0 @al-qaida", "", "علاقة إيران بالقاعدة", True),
    ("@iran NEAR/0 @al-qaida", "علاقة إيران بالقاعدة", "", True),
    ("@iran NEAR/0 @al-qaida", "", "إيران تدعم القاعدة", False),
    ("@iran ONEAR/1 @al-qaida", "", "القاعدة في إيران", False),
    ("@iran ONEAR/1 @al-qaida", "", "إيران ضد القاعدة", True),
    # Persian: a word with a ZWNJ is one word: ایران(0) می‌گوید(1) القاعده(2)
    ("@iran NEAR/1 @al-qaida", "", "ایران می\u200cگوید القاعده", True),
    ("@iran NEAR/0 @al-qaida", "", "ایران می\u200cگوید القاعده", False),
    # tatweel and harakat are not words either
    ("@iran NEAR/1 @al-qaida", "", "إيـــرانُ تدعمُ القاعدةَ", True),
    # sentences end at the Arabic question mark
    ("@iran NEAR/s @al-qaida", "", "هل تدعم إيران؟ القاعدة تنفي", False),
    ("@iran NEAR/s @al-qaida", "", "هل تدعم إيران القاعدة؟ لا", True),
    ("@iran NEAR/p @al-qaida", "", "هل تدعم إيران؟ القاعدة تنفي", True),
    # fields: a NEAR never spans from title into body
    ("@iran NEAR/10 @al-qaida", "إيران", "القاعدة", False),
]


@pytest.mark.parametrize(("query", "title", "body", "expected"), NEAR)
def test_near_counts_words_as_a_reader_does(
    query: str, title: str, body: str, expected: bool
) -> None:
    assert (matched_words(query, title, body) is not None) == expected


def test_highlights_in_snippets_cover_the_written_words() -> None:
    body = "قال مسؤول إن طهران تنفي أي علاقة لإيران بالقاعدة، وأضاف أن الأمر مختلق."
    (m,) = build("@iran NEAR/3 @al-qaida").match(doc("", body))
    (snippet,) = m.snippets
    shown = [snippet.text[a:b] for a, b in snippet.highlights]
    assert shown == ["لإيران", "بالقاعدة"]
    assert [(s.start, s.end) for s in m.spans] == [
        (body.index("لإيران"), body.index("لإيران") + len("لإيران")),
        (body.index("بالقاعدة"), body.index("بالقاعدة") + len("بالقاعدة")),
    ]
    assert m.distances == (0,)


def test_explain_quotes_the_written_words() -> None:
    text = build("@iran NEAR/2 @al-qaida").explain("r", doc("", "وإيران والقاعدة"))
    assert "MATCHED" in text
    assert '"وإيران" (body)' in text and '"والقاعدة" (body)' in text


def test_every_form_is_found_and_nothing_else() -> None:
    """The proclitic forms of a word, each written into a text, are found; the same forms of
    another word are not (the forms are exact words, not prefixes of the text)."""
    matcher = build("@oil")
    for form in clitic_forms(query_tokens("نفط")[0]):
        assert matcher.match(doc("", f"ارتفع {form} اليوم")), form
    for form in clitic_forms(query_tokens("قطن")[0]):  # cotton
        assert not matcher.match(doc("", f"ارتفع {form} اليوم")), form


def test_latin_aliases_take_no_proclitics() -> None:
    assert clitic_forms("iran") == ("iran",)
    assert matched_words("@iran", "", "biran and liran") is None
