"""Rule matching: the one front door of the rule engine.

``validate_query`` checks one query for configuration; ``Matcher.build`` compiles all rules
once, and ``Matcher.match`` runs them over a document. See docs/rules.md for the language.
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.match.matcher import Matcher
from monitor.match.query import Prefix, can_be_found, leaves, parse_query

__all__ = ["Matcher", "validate_query"]

SHORT_PREFIX = 3  # prefixes shorter than this match a great many words


def validate_query(query: str, entity_ids: Collection[str]) -> list[str]:
    """Parse ``query``; raise QueryError(message, column) on the first error.

    Returns warnings about queries that parse but are probably not what was meant.
    """
    node = parse_query(query, entity_ids)
    warnings = []
    if not can_be_found(node):
        warnings.append("query has only NOT terms and can never match by itself")
    for leaf, _ in leaves(node):
        if isinstance(leaf, Prefix) and sum(map(len, leaf.tokens)) < SHORT_PREFIX:
            warnings.append(f"prefix {leaf.operand!r} is very short and matches many words")
    return warnings
