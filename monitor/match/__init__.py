"""Rule matching: the one front door of the rule engine.

``validate_query`` checks one query for configuration; ``Matcher.build`` compiles all rules
once, and ``Matcher.match`` runs them over a document. See docs/rules.md for the language.
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.match.evaluate import FOUND
from monitor.match.matcher import Matcher
from monitor.match.query import Prefix, Term, bare_value, can_be_found, leaves, parse_query

__all__ = ["Matcher", "validate_query"]

SHORT_PREFIX = 3  # prefixes shorter than this match a great many words


UNFILTERED = (
    "'*' lets every article through and the rule has no feeds, tags or languages filter: "
    "it alerts on every article of every feed"
)


def validate_query(query: str, entity_ids: Collection[str], filtered: bool = True) -> list[str]:
    """Parse ``query``; raise QueryError(message, column) on the first error.

    Returns warnings about queries that parse but are probably not what was meant.
    ``filtered``: whether the rule has a feeds, tags or languages filter.
    """
    node = parse_query(query, entity_ids)
    warnings = []
    if not filtered and bare_value(node) == FOUND:  # found with no word: a passthrough
        warnings.append(UNFILTERED)
    if not can_be_found(node):
        warnings.append("query has only NOT terms and can never match by itself")
    for leaf, _ in leaves(node):
        if isinstance(leaf, Prefix) and sum(map(len, leaf.tokens)) < SHORT_PREFIX:
            warnings.append(f"prefix {leaf.operand!r} is very short and matches many words")
        elif isinstance(leaf, Term) and leaf.operand.lower() in ("near", "onear"):
            op = leaf.operand.upper()
            warnings.append(
                f"{leaf.operand!r} is searched for as a word (operators are upper case): write "
                f"{op}/10 for 'within 10 words', or quote it, \"{leaf.operand}\", to keep the word"
            )
    return warnings
