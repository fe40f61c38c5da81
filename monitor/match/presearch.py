"""Presearch: which rules are worth deciding for a document (the Lucene Monitor idea).

Every query needs some words to be FOUND. We write that need as *clauses*, sets of concepts
one of which must occur: ``@iran NEAR/10 (oil OR gas) NOT @iraq`` needs {iran} and
{oil, gas}; ``a OR NOT b`` needs {a}. Each rule group is indexed under its two rarest
clauses, so after the scan a group is a candidate only when a concept of each occurs; a
query with a single clause is indexed under that one. Clauses are necessary conditions
only: candidates are still decided in full (see ``decide``).

``*`` occurs in every document, so a clause that holds it is no condition and is dropped; a
query that needs nothing else (a passthrough such as ``*`` or ``* NOT sport``) is indexed
under ``*`` alone and is a candidate for every document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from monitor.match.evaluate import EVERYTHING, ConceptKey, concept_key
from monitor.match.query import And, Entity, Everything, Near, Node, Not, Prefix, Scope, Term

Clause = frozenset[int]
MAX_PAIRS = 16  # a pair of clauses costs |first| x |second| index entries; beyond: one clause


class Presearch:
    """Rule groups indexed by the concepts they need; built once with ``index``."""

    __slots__ = ("_pairs", "_single")

    def __init__(
        self,
        single: dict[int, tuple[int, ...]],
        pairs: dict[int, dict[int, tuple[int, ...]]],
    ) -> None:
        self._single = single  # concept -> groups
        self._pairs = pairs  # first concept -> second concept -> groups

    @classmethod
    def index(cls, groups: Iterable[Sequence[Clause]], cost: Sequence[float]) -> Presearch:
        """Index each group (numbered in order) by its clauses; a group with none can never
        be FOUND and is left out."""
        single: dict[int, list[int]] = {}
        pairs: dict[int, dict[int, list[int]]] = {}
        for group, clauses in enumerate(groups):
            if not clauses:
                continue
            ranked = sorted(clauses, key=lambda cl: (sum(cost[c] for c in cl), sorted(cl)))
            first = ranked[0]
            if len(ranked) == 1 or len(first) * len(ranked[1]) > MAX_PAIRS:
                for c in first:
                    single.setdefault(c, []).append(group)
                continue
            for c in first:
                by_second = pairs.setdefault(c, {})
                for d in ranked[1]:
                    by_second.setdefault(d, []).append(group)
        return cls(
            {c: tuple(gs) for c, gs in single.items()},
            {c: {d: tuple(gs) for d, gs in second.items()} for c, second in pairs.items()},
        )

    def candidates(self, occurring: Mapping[int, object]) -> set[int]:
        """The groups whose indexed clauses are all met by the occurring concepts."""
        present = set(occurring)
        out: set[int] = set()
        single, pairs = self._single, self._pairs
        for c in present:
            groups = single.get(c)
            if groups is not None:
                out.update(groups)
            by_second = pairs.get(c)
            if by_second is not None:
                for d in present.intersection(by_second):
                    out.update(by_second[d])
        return out


def needs(node: Node, concepts: Mapping[ConceptKey, int], cost: Sequence[float]) -> list[Clause]:
    """Clauses that must all be met for ``node`` to be FOUND; empty when it never is."""
    found = _Needs(concepts, cost).found(node)
    if found is None:
        return []
    clauses = list(dict.fromkeys(found))
    always = concepts.get(EVERYTHING)
    if always is None:
        return clauses
    return [cl for cl in clauses if always not in cl] or [frozenset((always,))]


class _Needs:
    def __init__(self, concepts: Mapping[ConceptKey, int], cost: Sequence[float]) -> None:
        self.concepts = concepts
        self.cost = cost

    def cheapest(self, clauses: list[Clause]) -> Clause:
        return min(clauses, key=lambda clause: sum(self.cost[c] for c in clause))

    def leaf(self, node: Term | Prefix | Entity | Everything) -> Clause:
        return frozenset((self.concepts[concept_key(node)],))

    def near(self, node: Near) -> list[Clause]:
        sides = (node.left, node.right)
        return [frozenset(self.concepts[concept_key(x)] for x in side) for side in sides]

    def true(self, node: Node) -> list[Clause]:
        """Clauses needed for the node to be TRUE or FOUND."""
        if isinstance(node, Term | Prefix | Entity | Everything):
            return [self.leaf(node)]
        if isinstance(node, Near):
            return self.near(node)
        if isinstance(node, Not):
            return []
        if isinstance(node, Scope):
            return self.true(node.child)
        kids = [self.true(c) for c in node.children]
        if isinstance(node, And):
            return [clause for kid in kids for clause in kid]
        if any(not kid for kid in kids):  # an alternative needs nothing (a NOT)
            return []
        return [frozenset().union(*(self.cheapest(kid) for kid in kids))]

    def found(self, node: Node) -> list[Clause] | None:
        """Clauses needed for the node to be FOUND, None when it never is."""
        if isinstance(node, Term | Prefix | Entity | Everything):
            return [self.leaf(node)]
        if isinstance(node, Near):
            return self.near(node)
        if isinstance(node, Not):
            return None
        if isinstance(node, Scope):
            return self.found(node.child)
        kids = [k for k in (self.found(c) for c in node.children) if k is not None]
        if not kids:
            return None
        some = frozenset().union(*(self.cheapest(kid) for kid in kids))  # one child is FOUND
        return [*self.true(node), some] if isinstance(node, And) else [some]
