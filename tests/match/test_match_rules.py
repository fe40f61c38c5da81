"""Rule semantics, table-driven: every operator, boundaries, fields, units, aliases, options.

Every row is checked against both the Matcher and the plain reference evaluator.
"""

from __future__ import annotations

from typing import Any

import pytest
from match_reference import matches as reference_matches

from monitor.match import Matcher
from monitor.match.query import parse_query
from monitor.match.report import match_json, shared_json
from monitor.models import Document, EntityConfig, RuleConfig, RuleExamples

ENTITIES = {
    e.id: e
    for e in [
        EntityConfig("iran", ("Iran", "Iranian", "Tehran", "Islamic Republic of Iran")),
        EntityConfig("al-qaida", ("al-Qaida", "al-Qaeda", "al-Qa'ida", "Al Qaeda"), ("AQ",)),
        EntityConfig("isis", ("Islamic State", "ISIS"), ("IS",)),
        EntityConfig("who", ("World Health Organization",), ("WHO",)),
        EntityConfig("qaida-ar", ("القاعدة",)),
        EntityConfig("moscow", ("Москва",)),
        EntityConfig("zarif", ("Mohammad Javad Zarif", "Zarif")),
    ]
}

W5 = "one two three four five"
W6 = "one two three four five six"

CASES: list[tuple[str, str, str, bool]] = [
    # (query, title, body, matches?)
    # words, phrases, AND / OR / NOT
    ("iran", "", "News from IRAN today", True),
    ("iran", "", "Iranian news", False),
    ('"oil prices"', "", "Oil  prices rose", True),
    ('"oil prices"', "", "oil and prices", False),
    ("iran sanctions", "", "Iran faces sanctions", True),
    ("iran AND sanctions", "", "Iran faces pressure", False),
    ("iran OR iraq", "", "Iraq votes", True),
    ("iran OR iraq", "", "Syria votes", False),
    ("iran NOT sanctions", "", "Iran votes", True),
    ("iran NOT sanctions", "", "Iran sanctions", False),
    ("iran AND NOT sanctions", "Sanctions", "Iran votes", False),  # NOT sees the whole article
    ("NOT sanctions", "", "Iran votes", False),  # only NOT: never matches by itself
    ("iran OR NOT sanctions", "", "Syria votes", False),  # true, but no words support it
    ("iran OR NOT sanctions", "", "Iran votes", True),
    ("NOT (iran AND sanctions) iraq", "", "Iran and Iraq", True),
    ("NOT (iran AND sanctions) iraq", "", "Iran, Iraq, sanctions", False),
    ("NOT NOT iran", "", "Iran", False),  # double negation is true but unsupported
    # prefixes
    ("sanction*", "", "new Sanctioned entities", True),
    ("sanction*", "", "sanction", True),
    ("sanction*", "", "desanctioned", False),
    ("al-qa*", "", "Al Qaeda", True),
    ("al-qa*", "", "al or qaeda", False),
    ('"new sanction*"', "", "new sanctions", False),  # a star in quotes is not a prefix
    # NEAR: at most n words between, either order, no overlap
    ("iran NEAR/5 iraq", "", f"Iran {W5} Iraq", True),
    ("iran NEAR/5 iraq", "", f"Iran {W6} Iraq", False),
    ("iran NEAR/5 iraq", "", f"Iraq {W5} Iran", True),
    ("iran NEAR/0 iraq", "", "Iran-Iraq war", True),
    ("iran NEAR/0 iraq", "", "Iran and Iraq", False),
    ("iran NEAR/3 iran", "", "Iran", False),
    ("iran NEAR/3 iran", "", "Iran and Iran", True),
    ('"al qaida" NEAR/3 qaida', "", "al-Qaida", False),
    ('"al qaida" NEAR/3 qaida', "", "al-Qaida and Qaida", True),
    ("(iran OR iraq) NEAR/2 oil", "", "Iraq sells oil", True),
    ("(iran OR iraq) NEAR/2 oil", "", "Iraq sells much more oil", False),
    # ONEAR: first operand first
    ("iran ONEAR/5 iraq", "", f"Iran {W5} Iraq", True),
    ("iran ONEAR/5 iraq", "", f"Iraq {W5} Iran", False),
    ("iran ONEAR/5 iraq", "", f"Iran {W6} Iraq", False),
    # fields: AND/OR/NOT see both; NEAR and phrases never cross from title into body
    ("iran NEAR/50 iraq", "Iran", "Iraq", False),
    ("iran iraq", "Iran", "Iraq", True),
    ('"oil prices"', "Oil", "prices", False),
    ("iran NEAR/3 iraq", "Iran and Iraq", "", True),
    ("title:(iran)", "Iran", "Iraq", True),
    ("title:(iran)", "Iraq", "Iran", False),
    ("body:(iran)", "Iran", "Iraq", False),
    ("body:(iran NEAR/5 iraq)", "Iran and Iraq", "Iraq", False),
    ("title:iran body:iraq", "Iran", "Iraq", True),
    ("title:(NOT iran) iraq", "Syria", "Iran and Iraq", True),
    ("title:(NOT iran) iraq", "Iran", "Iraq", False),
    # sentences and paragraphs
    ("iran NEAR/s iraq", "", "Iran met Iraq.", True),
    ("iran NEAR/s iraq", "", "Iran met. Iraq did not.", False),
    ("iran NEAR/s iraq", "", "Iran met the U.S. envoy and Iraq", True),
    ("iran NEAR/s iraq", "", "Iran met Mr. Smith of Iraq", True),
    ("iran NEAR/s iraq", "", "Iran met! Iraq?", False),
    ("iran ONEAR/s iraq", "", "Iraq met Iran.", False),
    ("iran NEAR/p iraq", "", "Iran met. Iraq did not.", True),
    ("iran NEAR/p iraq", "", "Iran met.\nIraq did not.", True),
    ("iran NEAR/p iraq", "", "Iran met.\n\nIraq did not.", False),
    ("iran NEAR/s iraq", "Iran", "Iraq", False),
    # entities: any alias, case-insensitive; exact aliases case-sensitive
    ("@iran", "", "The Islamic Republic of Iran said", True),
    ("@iran", "", "tehran said", True),
    ("@al-qaida", "", "AQ [Al Qaeda] claims", True),
    ("@al-qaida", "", "AQ figures", True),
    ("@al-qaida", "", "aq figures", False),
    ("@al-qaida", "", "Al-Qa’ida", True),
    ("@isis", "", "it is what it is", False),
    ("@isis", "", "IS fighters", True),
    ("@who", "", "who knows", False),
    ("@who", "", "the WHO’s report", True),
    ("@qaida-ar", "", "قال تنظيم القاعدة إن", True),
    ("@moscow", "", "Заявление: Москва отвергает", True),
    ("@zarif", "", "Ẓarīf said", True),
    ("@iran NEAR/3 @al-qaida", "", "Iran-al-Qaida relationship", True),
    ("@iran NEAR/3 @al-qaida", "", "Iran-based al- Qaida leaders", True),
]


def build(query: str, **options: Any) -> Matcher:
    return Matcher.build([RuleConfig(name="r", query=query, **options)], ENTITIES)


def doc(title: str, body: str, **fields: Any) -> Document:
    return Document(id="d", title=title, text=body, **fields)


@pytest.mark.parametrize(("query", "title", "body", "expected"), CASES)
def test_semantics(query: str, title: str, body: str, expected: bool) -> None:
    got = [m.rule for m in build(query).match(doc(title, body))]
    assert got == (["r"] if expected else [])
    assert reference_matches(parse_query(query, ENTITIES), title, body, ENTITIES) == expected


MIN_MENTIONS = [
    # (query, body, min_mentions, matches?)
    ("iran", "Iran votes", 2, False),
    ("iran", "Iran votes. Iran wins", 2, True),
    ("@iran", "Iran votes. Tehran wins", 2, True),  # aliases count together
    ("@iran", "Islamic Republic of Iran", 2, False),  # overlapping aliases count once
    ("iran iraq", "Iran Iran Iraq", 2, False),  # every operand the match relies on
    ("iran OR iraq", "Iran Iran Iraq", 2, True),
    ("iran NOT iraq", "Iran Iran Iraq", 2, False),  # NOT still fails at one mention
    ("iran NEAR/1 iraq", "Iran Iraq and Iran Iraq", 2, True),
    ("iran NEAR/1 iraq", "Iran Iraq and Iran", 2, False),
    ("title:(iran)", "Iran", 2, False),
]


@pytest.mark.parametrize(("query", "body", "k", "expected"), MIN_MENTIONS)
def test_min_mentions(query: str, body: str, k: int, expected: bool) -> None:
    title = "Iran" if query.startswith("title:") else ""
    got = bool(build(query, min_mentions=k).match(doc(title, body)))
    assert got == expected
    assert reference_matches(parse_query(query, ENTITIES), title, body, ENTITIES, k) == expected


FILTERS = [
    # (rule options, document fields, matches?)
    ({}, {}, True),
    ({"feeds": ("a", "b")}, {"feed": "b"}, True),
    ({"feeds": ("a", "b")}, {"feed": "c"}, False),
    ({"feeds": ("a",)}, {}, False),
    ({"tags": ("mideast",)}, {"tags": frozenset({"mideast", "world"})}, True),
    ({"tags": ("mideast",)}, {"tags": frozenset({"sport"})}, False),
    ({"languages": ("en",)}, {"language": "en"}, True),
    ({"languages": ("en",)}, {"language": "en-GB"}, True),
    ({"languages": ("EN",)}, {"language": "en"}, True),
    ({"languages": ("en",)}, {"language": "fa"}, False),
    ({"languages": ("en",)}, {"language": None}, True),  # unknown language passes
]


@pytest.mark.parametrize(("options", "fields", "expected"), FILTERS)
def test_filters(options: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    got = build("iran", **options).match(doc("", "Iran", **fields))
    assert bool(got) == expected


def test_matches_come_in_rule_order_with_channels() -> None:
    rules = [
        RuleConfig(name="z", query="iraq", channels=("mail",)),
        RuleConfig(name="a", query="@iran", channels=("hook", "mail")),
        RuleConfig(name="m", query="syria"),
    ]
    m = Matcher.build(rules, ENTITIES)
    assert m.rule_names == ["z", "a", "m"]
    got = m.match(doc("Iraq", "Tehran and Iraq"))
    assert [(x.rule, x.channels, x.article_id) for x in got] == [
        ("z", ("mail",), "d"),
        ("a", ("hook", "mail"), "d"),
    ]


def test_rules_written_alike_match_together_but_keep_their_own_filters() -> None:
    rules = [
        RuleConfig(name="first", query="@iran NEAR/3 iraq", channels=("a",)),
        RuleConfig(name="other", query="iraq"),
        RuleConfig(name="second", query="@iran  NEAR/3 (iraq)", channels=("b",)),
        RuleConfig(name="filtered", query="@iran NEAR/3 iraq", feeds=("elsewhere",)),
        RuleConfig(name="counted", query="@iran NEAR/3 iraq", min_mentions=2),
    ]
    m = Matcher.build(rules, ENTITIES)
    d = doc("", "Tehran and Iraq", feed="wire")
    got = m.match(d)
    assert [(x.rule, x.channels) for x in got] == [
        ("first", ("a",)),
        ("other", ()),
        ("second", ("b",)),
    ]
    assert got[0].spans is got[2].spans  # one evidence for the rules written alike
    assert shared_json(m.match_shared(d)) == [match_json(x) for x in got]
    assert [x.rule for x in m.match(doc("", "Tehran and Iraq, Iran and Iraq"))] == [
        "first",
        "other",
        "second",
        "counted",
    ]


def test_examples_are_checked() -> None:
    rules = [
        RuleConfig(
            name="good",
            query="@iran NEAR/5 @al-qaida",
            feeds=("elsewhere",),  # filters do not apply to examples
            examples=RuleExamples(match=("Tehran hosts al-Qaeda",), no_match=("Iran only",)),
        ),
        RuleConfig(
            name="bad",
            query="iran",
            examples=RuleExamples(match=("Iraq",), no_match=("Iran",)),
        ),
    ]
    assert Matcher.build(rules, ENTITIES).check_examples() == [
        ("bad", "example should match: 'Iraq'", ("match", 0)),
        ("bad", "example should not match: 'Iran'", ("no_match", 0)),
    ]


def test_build_names_the_rule_with_a_bad_query() -> None:
    from monitor.errors import QueryError

    with pytest.raises(QueryError) as info:
        Matcher.build([RuleConfig(name="ok", query="a"), RuleConfig(name="b", query="a OR")], {})
    assert info.value.message == "rule 'b': expected operand after OR, found end of query"
    assert info.value.column == 5
