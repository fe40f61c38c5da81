"""Decide whether a query is FOUND in a document, without building its evidence.

Most candidate rules do not match, and evidence (which words, which snippets) is only worth
building for those that do. A decision is the node's value (``evaluate``'s ABSENT, TRUE,
FOUND) computed from which concepts occur: an AND of plain operands is one subset test, an
OR of them one disjointness test, both done in C on the set of occurring concepts. Operands
that need counting or a field (``min_mentions``, ``title:``) and NEARs reuse the memoised
evidence checks of ``compile``, so their work is shared with the evidence of rules that match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from monitor.match.compile import Check, compile_check
from monitor.match.evaluate import ABSENT, FOUND, TRUE, ConceptKey, Hits, concept_key
from monitor.match.query import (
    And,
    Entity,
    Everything,
    Field,
    Near,
    Node,
    Not,
    Prefix,
    Scope,
    Term,
)

Decide = Callable[[Hits], int]  # a (sub)query's value in one document


def needs_deciding(node: Node, k: int) -> bool:
    """False for a single operand that is FOUND wherever it occurs: the presearch, which
    only proposes a group when one of its concepts occurs, has decided it already (``*``
    occurs in every document, whatever ``min_mentions``)."""
    if isinstance(node, Everything):
        return False
    return not (k == 1 and isinstance(node, Term | Prefix | Entity))


def compile_decision(
    node: Node,
    concepts: Mapping[ConceptKey, int],
    k: int,
    checks: dict[tuple[int, Field | None, int], Check],
    scope: Field | None = None,
) -> Decide:
    """The node's value for a document, with the semantics of ``evaluate``. ``checks`` is
    the table of shared evidence checks (see ``compile.compile_check``)."""
    plain = _plain(node, concepts, k, scope)
    if plain is not None:
        return lambda h: FOUND if plain in h.occ else ABSENT
    if isinstance(node, Term | Prefix | Entity | Everything | Near):
        check = compile_check(node, concepts, k, scope, checks)
        return lambda h: check(h).value
    if isinstance(node, Scope):
        return compile_decision(node.child, concepts, k, checks, node.field)
    if isinstance(node, Not):
        absent = _plain(node.child, concepts, 1, scope)
        if absent is not None:
            return lambda h: ABSENT if absent in h.occ else TRUE
        inner = compile_decision(node.child, concepts, 1, checks, scope)
        return lambda h: TRUE if inner(h) == ABSENT else ABSENT
    # AND and OR: plain operands (and, in an AND, NOT plain operand) as sets of concepts
    leaves: set[int] = set()
    negated: set[int] = set()
    rest: list[Decide] = []
    for child in node.children:
        c = _plain(child, concepts, k, scope)
        n = _plain(child.child, concepts, 1, scope) if isinstance(child, Not) else None
        if c is not None:
            leaves.add(c)
        elif n is not None and isinstance(node, And):
            negated.add(n)
        else:
            rest.append(compile_decision(child, concepts, k, checks, scope))
    # tuples, not frozensets: a thousand rules cost a third of the memory
    if isinstance(node, And):
        return _all_of(tuple(sorted(leaves)), tuple(sorted(negated)), tuple(rest))
    return _any_of(tuple(sorted(leaves)), tuple(rest))


def _plain(
    node: Node, concepts: Mapping[ConceptKey, int], k: int, scope: Field | None
) -> int | None:
    """The concept of an operand that is FOUND exactly when it occurs anywhere (no field
    limit, one mention is enough; ``*``, found in every document), else None."""
    if isinstance(node, Everything) or (
        k == 1 and scope is None and isinstance(node, Term | Prefix | Entity)
    ):
        return concepts[concept_key(node)]
    return None


def _all_of(
    required: tuple[int, ...], excluded: tuple[int, ...], rest: tuple[Decide, ...]
) -> Decide:
    base = FOUND if required else TRUE if excluded else ABSENT
    if not rest:
        return lambda h: (
            base
            if all(map(h.occ.__contains__, required)) and h.occ.keys().isdisjoint(excluded)
            else ABSENT
        )

    def decide(h: Hits) -> int:
        occ = h.occ
        if not all(map(occ.__contains__, required)) or not occ.keys().isdisjoint(excluded):
            return ABSENT
        best = base
        for f in rest:
            value = f(h)
            if value == ABSENT:
                return ABSENT
            if value > best:
                best = value
        return best

    return decide


def _any_of(alternatives: tuple[int, ...], rest: tuple[Decide, ...]) -> Decide:
    if not rest:
        return lambda h: ABSENT if h.occ.keys().isdisjoint(alternatives) else FOUND

    def decide(h: Hits) -> int:
        if not h.occ.keys().isdisjoint(alternatives):
            return FOUND
        best = ABSENT
        for f in rest:
            value = f(h)
            if value == FOUND:
                return FOUND
            if value > best:
                best = value
        return best

    return decide
