"""Differential property test: the fast Matcher agrees with the plain reference evaluator
on random rules and random texts."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from match_reference import matches as reference_matches

from monitor.match import Matcher
from monitor.match.query import parse_query
from monitor.models import Document, EntityConfig, RuleConfig

ENTITIES = {
    "iran": EntityConfig("iran", ("Iran", "Tehran", "Islamic Republic"), ("IR",)),
    "aq": EntityConfig("aq", ("al-Qaida", "al Qaeda", "Qaida"), ("AQ",)),
    "is": EntityConfig("is", ("Islamic State",), ("IS",)),
}
WORDS = ["iran", "Tehran", "al", "qaida", "state", "oil"]
TEXT_WORDS = [*WORDS, "IS", "is", "AQ", "aq", "Iran's", "al-Qaida", "Islamic", "x", "U.S.", "Mr."]
PUNCTUATION = [".", "?", ",", "\n\n", "\n", "-"]

leaf = st.one_of(
    st.sampled_from(WORDS),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    st.sampled_from(["ir*", "qa*", "al-q*", "isl*", "o*", "tehran*"]),
    st.sampled_from(["@iran", "@aq", "@is"]),
)
near_operand = st.one_of(
    leaf, st.lists(leaf, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")")
)
near_op = st.one_of(
    st.integers(0, 4).map(lambda n: f"NEAR/{n}"),
    st.integers(0, 4).map(lambda n: f"ONEAR/{n}"),
    st.sampled_from(["NEAR/s", "NEAR/p", "ONEAR/s"]),
)
near = st.tuples(near_operand, near_op, near_operand).map(" ".join)


def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " AND ".join(xs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " ".join(xs) + ")"),
        inner.map(lambda x: f"NOT {x}"),
        st.tuples(st.sampled_from(["title", "body"]), inner).map(lambda p: f"{p[0]}:({p[1]})"),
    )


query = st.recursive(st.one_of(leaf, near), extend, max_leaves=4)


def _text(parts: list[str]) -> str:
    return " ".join(parts)


text = st.lists(
    st.one_of(
        st.sampled_from(TEXT_WORDS), st.sampled_from(TEXT_WORDS), st.sampled_from(PUNCTUATION)
    ),
    min_size=4,
    max_size=30,
)


def _title_ok(q: str) -> bool:
    """Skip nested scopes that the parser rejects (title: inside body:)."""
    return not ("title:" in q and "body:" in q)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(query.filter(_title_ok), min_size=1, max_size=4),
    text.map(_text),
    text.map(_text),
    st.sampled_from([1, 1, 1, 2]),
)
def test_matcher_agrees_with_reference(
    queries: list[str], title: str, body: str, min_mentions: int
) -> None:
    _agree(queries, title, body, min_mentions)


def _agree(queries: list[str], title: str, body: str, min_mentions: int) -> None:
    rules = [
        RuleConfig(name=f"r{i}", query=q, min_mentions=min_mentions) for i, q in enumerate(queries)
    ]
    got = [m.rule for m in Matcher.build(rules, ENTITIES).match(Document("d", title, body))]
    expected = [
        r.name
        for r in rules
        if reference_matches(parse_query(r.query, ENTITIES), title, body, ENTITIES, min_mentions)
    ]
    event(f"matched {len(expected)} of {len(rules)}")
    assert got == expected


# `*` where it is allowed: beside any query in an AND or an OR (never under NOT, in a scope
# or as a NEAR operand; those are errors, see tests/ingest/test_passthrough.py).
with_star = st.one_of(
    query.map(lambda q: f"* AND {q}"),
    query.map(lambda q: f"{q} OR *"),
    query.map(lambda q: f"* NOT {q}"),
    st.tuples(query, query).map(lambda p: f"({p[0]} OR *) AND {p[1]}"),
    st.tuples(query, query).map(lambda p: f"({p[0]} * NOT {p[1]})"),
    st.just("*"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(query, with_star).filter(_title_ok), min_size=1, max_size=4),
    text.map(_text),
    text.map(_text),
    st.sampled_from([1, 1, 1, 2]),
)
def test_matcher_agrees_with_reference_on_star(
    queries: list[str], title: str, body: str, min_mentions: int
) -> None:
    """`*` is found in every article: with the presearch dropping the clauses it meets, the
    matcher still agrees with the plain evaluator, alone or among ordinary rules."""
    _agree(queries, title, body, min_mentions)
