"""The query parser: what parses to what, errors with columns, warnings."""

from __future__ import annotations

import pytest

from monitor.errors import QueryError
from monitor.match import validate_query
from monitor.match.query import parse_query, render

ENTITIES = {"iran", "al-qaida", "org_isis"}

PARSED = [
    ("iran", "iran"),
    ("Iran iraq", "(Iran AND iraq)"),
    ("a OR b c", "(a OR (b AND c))"),
    ("a AND b OR c AND d", "((a AND b) OR (c AND d))"),
    ("NOT a b", "(NOT a AND b)"),
    ("a NOT b", "(a AND NOT b)"),
    ("NOT a NEAR/3 b", "NOT a NEAR/3 b"),
    ('"oil prices" sanction*', '("oil prices" AND sanction*)'),
    ("@iran NEAR/20 @al-qaida", "@iran NEAR/20 @al-qaida"),
    ("@iran ONEAR/0 (@al-qaida OR aq)", "@iran ONEAR/0 (@al-qaida OR aq)"),
    ("(a OR (b OR c*)) NEAR/s d", "(a OR b OR c*) NEAR/s d"),
    ("a NEAR/p b", "a NEAR/p b"),
    ("title:(iran) body:(a NEAR/5 b)", "(title:(iran) AND body:(a NEAR/5 b))"),
    ("title:iran", "title:(iran)"),
    ("title:(title:(x))", "title:(title:(x))"),
    ("and or not", "(and AND or AND not)"),  # lower case: ordinary words
    ("  a  ", "a"),
]


@pytest.mark.parametrize(("query", "expected"), PARSED)
def test_parse(query: str, expected: str) -> None:
    assert render(parse_query(query, ENTITIES)) == expected


ERRORS = [
    ("", "empty query", 1),
    ("@iran NEAR/5", "expected operand after NEAR/5, found end of query", 13),
    ("@iran NEAR/5 AND x", "expected operand after NEAR/5, found 'AND'", 14),
    ("@iran AND", "expected operand after AND, found end of query", 10),
    ("a OR", "expected operand after OR, found end of query", 5),
    ("NOT", "expected operand after NOT, found end of query", 4),
    ("OR a", "expected operand, found 'OR'", 1),
    ("x AND @al-qaeda", "unknown entity '@al-qaeda' (did you mean '@al-qaida'?)", 7),
    ("x AND @zzzz", "unknown entity '@zzzz'", 7),
    ("@Iran", "bad entity id '@Iran': use lowercase letters, digits, '-' and '_'", 1),
    (
        "(a AND b) NEAR/5 c",
        "NEAR/5 operand must be a word, phrase, prefix, entity or a "
        "parenthesised OR of those, not an AND group",
        1,
    ),
    (
        "c ONEAR/2 (NOT b)",
        "ONEAR/2 operand must be a word, phrase, prefix, entity or a "
        "parenthesised OR of those, not NOT",
        11,
    ),
    (
        "c NEAR/2 title:(b)",
        "NEAR/2 operand must be a word, phrase, prefix, entity or a "
        "parenthesised OR of those, not a title:/body: scope",
        10,
    ),
    (
        "(a OR b c) NEAR/2 d",
        "NEAR/2 operand must be a word, phrase, prefix, entity or a "
        "parenthesised OR of those, not an AND group",
        1,
    ),
    ("a NEAR/3 b NEAR/2 c", "NEAR/2 cannot follow another NEAR; join two NEAR pairs with AND", 12),
    ("a NEAR/x b", "'NEAR/x' is not an operator: write NEAR/10 for 'within 10 words'", 3),
    ("a near b", None, None),  # lower case: an ordinary word (with a warning)
    ('a "NEAR" b', None, None),  # quoted: the word
    ("a) b", "unmatched ')'", 2),
    ("(a b", "missing ')': add one to close the '('", 1),
    ('x "abc', "unterminated phrase: missing closing '\"'", 3),
    ('""', "'' has no letters or digits to match", 1),
    ("a*b", "'*' may only end a word: 'a*b'", 1),
    ("-*", "'-*' has no letters or digits to match", 1),
    ("title:(body:(x))", "body: inside title:(...) can never match", 8),
    ("title:", "expected operand after title:, found end of query", 7),
]


@pytest.mark.parametrize(("query", "message", "column"), ERRORS)
def test_errors(query: str, message: str | None, column: int | None) -> None:
    if message is None:
        validate_query(query, ENTITIES)
        return
    with pytest.raises(QueryError) as info:
        validate_query(query, ENTITIES)
    assert (info.value.message, info.value.column) == (message, column)
    assert str(info.value) == f"{message} at column {column}"


WARNINGS = [
    ("iran", []),
    ("NOT iran", ["query has only NOT terms and can never match by itself"]),
    ("NOT a AND NOT b", ["query has only NOT terms and can never match by itself"]),
    ("title:(NOT a)", ["query has only NOT terms and can never match by itself"]),
    ("a OR NOT b", []),
    ("ab*", ["prefix 'ab*' is very short and matches many words"]),
    ("abc*", []),
]


@pytest.mark.parametrize(("query", "warnings"), WARNINGS)
def test_warnings(query: str, warnings: list[str]) -> None:
    assert validate_query(query, ENTITIES) == warnings


DEEP = "query nested deeper than 50 levels (parentheses, NOT, title:/body:)"

NESTED = [
    # (query, column of the token that opens level 51)
    ("(" * 51 + "a" + ")" * 51, 51),
    ("(" * 1000 + "a" + ")" * 1000, 51),
    ("a AND " + "NOT " * 3000 + "b", 7 + 50 * 4),
    ("title:" * 60 + "x", 1 + 50 * 6),
    ("x " + "(NOT title:" * 17 + "a" + ")" * 17, 3 + 16 * 11 + 5),
    ("(" * 20 + "a " + "NOT " * 31 + "b" + ")" * 20, 21 + 2 + 30 * 4),
]


@pytest.mark.parametrize(("query", "column"), NESTED)
def test_nesting_deeper_than_the_limit_is_a_positioned_error(query: str, column: int) -> None:
    with pytest.raises(QueryError) as info:
        validate_query(query, ENTITIES)
    assert (info.value.message, info.value.column) == (DEEP, column)


@pytest.mark.parametrize(
    "query",
    [
        "(" * 50 + "a" + ")" * 50,
        "a " + "NOT " * 50 + "b",
        "title:" * 50 + "x",
        "(NOT title:" * 16 + "(a OR b)" + ")" * 16,
        "((a) (b) ((c))) " * 200,  # levels are counted from the top, not added up
    ],
)
def test_nesting_up_to_the_limit_parses(query: str) -> None:
    validate_query(query, ENTITIES)
