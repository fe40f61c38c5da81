"""Compile rules into one term dictionary and fast per-rule checks.

Every operand becomes a *concept* (a word, phrase, prefix or entity; equal operands share
one; ``*`` is one more, which the scan finds in every document). Every concept has
*surfaces*, token sequences that stand for it: the tokens of a word or phrase, or of each
alias of an entity (``exact`` aliases in exact case). A surface whose first word is Arabic
goes in with every proclitic form of that word too (``clitics``; not ``exact`` ones). All
surfaces go into two token tries (folded and exact case) that are walked once per article,
so the cost of the scan hardly depends on the number of rules.

Which rules are worth evaluating after the scan is ``presearch``'s business; whether they
match, ``decide``'s; the checks compiled here build the evidence of those that do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from monitor.match.clitics import written_forms
from monitor.match.evaluate import (
    ABSENT,
    NO_EVIDENCE,
    ONLY_NOT,
    WHOLE,
    ConceptKey,
    DocText,
    Evidence,
    Hits,
    Occurrence,
    combine,
    concept_key,
    everything_evidence,
    leaf_evidence,
    near_evidence,
)
from monitor.match.query import (
    And,
    Entity,
    Everything,
    Field,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Prefix,
    Term,
)
from monitor.match.tokens import query_tokens

Check = Callable[[Hits], Evidence]  # a (sub)query's value and words in one document
# The estimated frequency of ``*``, which every document has: more than any other concept's
# (at most a few per surface), so the presearch never prefers it to a word.
EVERYWHERE = 1e9
Surface = tuple[tuple[str, ...], bool]  # tokens, and whether they are exact-case


class _TrieNode:
    __slots__ = ("children", "concepts")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.concepts: list[int] = []


@dataclass
class TermIndex:
    """Token tries of every surface, and a table of prefixes; ``scan`` finds them all."""

    folded: dict[str, _TrieNode] = field(default_factory=dict)
    exact: dict[str, _TrieNode] = field(default_factory=dict)
    # stem of the last token -> [(tokens before it, concept)]
    prefixes: dict[str, list[tuple[tuple[str, ...], int]]] = field(default_factory=dict)
    everything: int | None = None  # the concept of ``*``, if a rule uses it

    def add_surface(self, tokens: tuple[str, ...], exact: bool, concept: int) -> None:
        children = self.exact if exact else self.folded
        node = None
        for t in tokens:
            node = children.get(t)
            if node is None:
                node = children[t] = _TrieNode()
            children = node.children
        assert node is not None, "a surface has at least one token"
        if concept not in node.concepts:
            node.concepts.append(concept)

    def add_prefix(self, tokens: tuple[str, ...], concept: int) -> None:
        self.prefixes.setdefault(tokens[-1], []).append((tokens[:-1], concept))

    def scan(self, text: DocText) -> dict[int, list[Occurrence]]:
        """Occurrences of every concept in the document; none crosses from title to body."""
        occ: dict[int, list[Occurrence]] = {}
        tl = text.title_length
        folded = text.title_tokens.folded + text.body_tokens.folded
        _walk(folded, tl, self.folded, occ)
        exact = text.title_tokens.exact + text.body_tokens.exact
        if not self.exact.keys().isdisjoint(exact):  # exact aliases are few: often none occurs
            _walk(exact, tl, self.exact, occ)
        if self.prefixes:
            self._scan_prefixes(folded, tl, occ)
        if self.everything is not None:
            occ[self.everything] = [WHOLE]
        return occ

    def _scan_prefixes(self, folded: list[str], tl: int, occ: dict[int, list[Occurrence]]) -> None:
        lengths = sorted({len(stem) for stem in self.prefixes})
        for i, t in enumerate(folded):
            start_of_field = 0 if i < tl else tl
            for size in lengths:
                if size > len(t):
                    break
                for before, c in self.prefixes.get(t[:size], ()):
                    start = i - len(before)
                    if start >= start_of_field and tuple(folded[start:i]) == before:
                        occ.setdefault(c, []).append((start, i + 1))


def _walk(
    tokens: list[str], tl: int, root: dict[str, _TrieNode], occ: dict[int, list[Occurrence]]
) -> None:
    """Add the occurrences of every surface in ``root`` to ``occ``."""
    n = len(tokens)
    for i, t in enumerate(tokens):
        node = root.get(t)
        if node is None:
            continue
        end = tl if i < tl else n
        j = i + 1
        while True:
            for c in node.concepts:
                found = occ.get(c)
                if found is None:
                    occ[c] = [(i, j)]
                else:
                    found.append((i, j))
            if j >= end:
                break
            node = node.children.get(tokens[j])
            if node is None:
                break
            j += 1


@dataclass
class Compiled:
    """The compiled rule set: term index, concept numbers and their estimated costs."""

    index: TermIndex = field(default_factory=TermIndex)
    concepts: dict[ConceptKey, int] = field(default_factory=dict)
    costs: list[float] = field(default_factory=list)  # estimated frequency of each concept

    def concept(self, leaf: Leaf, entities: Mapping[str, tuple[Surface, ...]]) -> int:
        """Number of the leaf's concept, adding it (and its surfaces) when new.

        ``entities`` maps an entity id to its surfaces (see ``entity_surfaces``).
        """
        key = concept_key(leaf)
        c = self.concepts.get(key)
        if c is not None:
            return c
        c = self.concepts[key] = len(self.costs)
        if isinstance(leaf, Everything):
            self.index.everything = c
            self.costs.append(EVERYWHERE)
            return c
        if isinstance(leaf, Prefix):
            for form in written_forms(leaf.tokens):
                self.index.add_prefix(form, c)
            self.costs.append(3.0 / sum(map(len, leaf.tokens)))
            return c
        surfaces = [(leaf.tokens, False)] if isinstance(leaf, Term) else entities[leaf.id]
        cost = 0.0
        for tokens, exact in surfaces:
            if tokens:
                for form in (tokens,) if exact else written_forms(tokens):
                    self.index.add_surface(form, exact, c)
                cost += 1.0 / sum(map(len, tokens))  # the forms of a word: about as rare
        self.costs.append(cost)
        return c


def entity_surfaces(aliases: tuple[str, ...], exact: tuple[str, ...]) -> tuple[Surface, ...]:
    """The surfaces of an entity's aliases, for ``Compiled.concept``."""
    out = [(query_tokens(a), False) for a in aliases]
    out += [(query_tokens(a, exact=True), True) for a in exact]
    return tuple(out)


def compile_check(
    node: Node,
    concepts: Mapping[ConceptKey, int],
    k: int,
    scope: Field | None = None,
    shared: dict[tuple[int, Field | None, int], Check] | None = None,
) -> Check:
    """A closure computing the node's Evidence for a document (semantics: ``evaluate``).

    Operands and NEARs are memoised per document by node identity, so rules should share
    equal nodes (``query.intern``) to share the work and the resulting Evidence objects;
    ``shared`` (by node identity, scope and k) then shares their closures too.
    """
    if isinstance(node, Term | Prefix | Entity | Everything | Near):
        key = (id(node), scope, k)
        check = shared.get(key) if shared is not None else None
        if check is None:
            if isinstance(node, Near):
                check = _near_check(node, concepts, k, scope)
            else:
                check = _leaf_check(node, concepts[concept_key(node)], k, scope)
            if shared is not None:
                shared[key] = check
        return check
    if isinstance(node, And):
        fs = [
            compile_check(c, concepts, k, scope, shared)
            for c in sorted(node.children, key=_cost_rank)
        ]

        def all_of(h: Hits) -> Evidence:
            kids = []
            for f in fs:
                ev = f(h)
                if ev.value == ABSENT:
                    return NO_EVIDENCE
                kids.append(ev)
            return combine(h, kids)

        return all_of
    if isinstance(node, Or):
        gs = [compile_check(c, concepts, k, scope, shared) for c in node.children]
        return lambda h: combine(h, [g(h) for g in gs])
    if isinstance(node, Not):
        inner = compile_check(node.child, concepts, 1, scope, shared)
        return lambda h: ONLY_NOT if inner(h).value == ABSENT else NO_EVIDENCE
    return compile_check(node.child, concepts, k, node.field, shared)


def _cost_rank(node: Node) -> int:
    if isinstance(node, Term | Prefix | Entity | Everything):
        return 0
    return 2 if isinstance(node, Near) else 1


def _leaf_check(leaf: Leaf, c: int, k: int, scope: Field | None) -> Check:
    if isinstance(leaf, Everything):
        return lambda h: _everything(h, leaf)
    key = (id(leaf), scope, k)

    def check(h: Hits) -> Evidence:
        if c not in h.occ:
            return NO_EVIDENCE
        ev = h.memo.get(key)
        if ev is None:
            ev = h.memo[key] = leaf_evidence(h, leaf, c, scope, k)
        return ev

    return check


def _everything(h: Hits, leaf: Everything) -> Evidence:
    """``*``'s evidence, one object per document (min_mentions and scope do not apply)."""
    key = id(leaf)
    ev = h.memo.get(key)
    if ev is None:
        ev = h.memo[key] = everything_evidence(h, leaf)
    return ev


def _near_check(
    node: Near, concepts: Mapping[ConceptKey, int], k: int, scope: Field | None
) -> Check:
    left = [(x, concepts[concept_key(x)]) for x in node.left]
    right = [(x, concepts[concept_key(x)]) for x in node.right]
    left_concepts = frozenset(c for _, c in left)
    right_concepts = frozenset(c for _, c in right)
    key = (id(node), scope, k)

    def near(h: Hits) -> Evidence:
        found = h.occ.keys()
        if found.isdisjoint(left_concepts) or found.isdisjoint(right_concepts):
            return NO_EVIDENCE
        ev = h.memo.get(key)
        if ev is None:
            ev = h.memo[key] = near_evidence(h, node, (left, right), scope, k)
        return ev

    return near
