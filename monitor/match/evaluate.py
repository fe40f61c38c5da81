"""Query semantics over one document's term occurrences.

A query node evaluates to one of three values:

- ``ABSENT`` (0): false.
- ``TRUE`` (1): true, but no word of the article supports it (``NOT x`` when x is absent).
- ``FOUND`` (2): true, and some operand's words in the article support it.

AND is ABSENT if a child is, otherwise the best of its children; OR is the best of its
children; ``NOT x`` is TRUE when x is ABSENT, else ABSENT. A rule matches only when its query
is FOUND: an alert always has matched words to show, and a query made only of NOT terms
never matches by itself.

Operands (a word, phrase, prefix or entity) are FOUND when they occur in the fields the query
looks at (``title:``/``body:`` narrow it) at least ``min_mentions`` times, counting
non-overlapping occurrences. NOT ignores ``min_mentions``: ``NOT x`` fails at the first x.

``A NEAR/n B``: an occurrence of A and one of B in the same field that do not overlap and have
at most n tokens between them, in either order (ONEAR: A first). ``NEAR/s`` and ``NEAR/p``
replace the distance with "both in the same sentence / paragraph". With min_mentions k, each
side must also occur at least k times.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from monitor.match.query import And, Entity, Field, Leaf, Near, Node, Not, Or, Prefix, Term
from monitor.match.tokens import Tokens, tokenize, units

ABSENT, TRUE, FOUND = 0, 1, 2

Occurrence = tuple[int, int]  # token positions [start, end) in title + body
ConceptKey = tuple[str, str | tuple[str, ...]]


def concept_key(leaf: Leaf) -> ConceptKey:
    """Operands that match the same words share one concept (``Iran`` and ``iran``)."""
    if isinstance(leaf, Term):
        return ("term", leaf.tokens)
    if isinstance(leaf, Prefix):
        return ("prefix", leaf.tokens)
    return ("entity", leaf.id)


@dataclass(frozen=True, slots=True)
class DocText:
    """A document's two fields, tokenized; token positions run through the title, then body."""

    title: str
    body: str
    title_tokens: Tokens
    body_tokens: Tokens

    @classmethod
    def of(cls, title: str, body: str) -> DocText:
        return cls(title, body, tokenize(title), tokenize(body))

    @property
    def title_length(self) -> int:
        return len(self.title_tokens)

    def locate(self, occ: Occurrence) -> tuple[Field, int, int]:
        """(field, start, end): the character offsets of an occurrence in its field's text."""
        tl = self.title_length
        if occ[0] < tl:
            spans = self.title_tokens.spans
            return "title", spans[occ[0]][0], spans[occ[1] - 1][1]
        spans = self.body_tokens.spans
        return "body", spans[occ[0] - tl][0], spans[occ[1] - 1 - tl][1]


class Hits:
    """Where every concept occurs in one document, plus the document's sentence and paragraph
    numbering and the evidence of query parts (both computed on first use)."""

    __slots__ = ("_units", "memo", "occ", "text")

    def __init__(self, text: DocText, occ: Mapping[int, list[Occurrence]]) -> None:
        self.text = text
        self.occ = occ
        self._units: tuple[list[int], list[int]] | None = None
        # Evidence of operands, NEARs and groups, so that rules sharing parts share the work
        # (and the very same Evidence object: see Evaluator).
        self.memo: dict[Hashable, Evidence] = {}

    def occurrences(self, concept: int, scope: Field | None) -> list[Occurrence]:
        found = self.occ.get(concept, [])
        if scope is None or not found:
            return found
        tl = self.text.title_length
        if scope == "title":
            return [o for o in found if o[0] < tl]
        return [o for o in found if o[0] >= tl]

    def gather(self, concepts: Sequence[int], scope: Field | None) -> list[Occurrence]:
        if len(concepts) == 1:
            return self.occurrences(concepts[0], scope)
        return [o for c in concepts for o in self.occurrences(c, scope)]

    def unit_ids(self, unit: str) -> list[int]:
        """Sentence (or paragraph) number of every token; title and body never share one."""
        if self._units is None:
            t = self.text
            ts, tp = units(t.title, t.title_tokens)
            bs, bp = units(t.body, t.body_tokens)
            first_s, first_p = (ts[-1] + 1, tp[-1] + 1) if ts else (0, 0)
            self._units = (ts + [s + first_s for s in bs], tp + [p + first_p for p in bp])
        return self._units[0] if unit == "sentence" else self._units[1]

    def pairs(
        self, near: Near, left: list[Occurrence], right: list[Occurrence]
    ) -> Iterator[tuple[Occurrence, Occurrence, int]]:
        """Every (left, right, tokens between) pair that satisfies ``near``."""
        tl = self.text.title_length
        words = near.unit == "words"
        ids = None if words else self.unit_ids(near.unit)
        limit = near.distance
        for a in left:
            a_title = a[0] < tl
            for b in right:
                if (b[0] < tl) != a_title:
                    continue
                if b[0] >= a[1]:
                    gap = b[0] - a[1]
                elif not near.ordered and a[0] >= b[1]:
                    gap = a[0] - b[1]
                else:
                    continue
                if words:
                    if gap <= limit:
                        yield a, b, gap
                else:
                    assert ids is not None
                    if ids[min(a[0], b[0])] == ids[max(a[1], b[1]) - 1]:
                        yield a, b, gap


def mentions(found: Sequence[Occurrence]) -> int:
    """Number of non-overlapping occurrences (leftmost, then longest, first)."""
    count, end = 0, -1
    for start, stop in sorted(found, key=lambda o: (o[0], -o[1])):
        if start >= end:
            count, end = count + 1, stop
    return count


@dataclass(frozen=True, slots=True)
class Evidence:
    """A node's value with the words that support it and the NEAR distances it used."""

    value: int
    spans: tuple[tuple[Leaf, Occurrence], ...] = ()
    distances: tuple[int, ...] = ()


_ABSENT = Evidence(ABSENT)
_TRUE = Evidence(TRUE)


class Evaluator:
    """Evaluates a query tree with full evidence (spans, distances) for one document.

    ``concepts`` maps each operand's ``concept_key`` to the concept number ``Hits`` uses.
    Equal evidence is the same object for the whole document (memoised in ``Hits.memo``), so
    callers may cache what they derive from it by identity.
    """

    def __init__(
        self, hits: Hits, concepts: Mapping[ConceptKey, int], min_mentions: int = 1
    ) -> None:
        self.hits = hits
        self.concepts = concepts
        self.k = min_mentions

    def found(self, leaves: Sequence[Leaf], scope: Field | None) -> list[Occurrence]:
        return self.hits.gather([self.concepts[concept_key(x)] for x in leaves], scope)

    def evaluate(self, node: Node, scope: Field | None = None) -> Evidence:
        if isinstance(node, Term | Prefix | Entity | Near):
            key = (node, scope, self.k)
            ev = self.hits.memo.get(key)
            if ev is None:
                ev = self.hits.memo[key] = (
                    self.near(node, scope) if isinstance(node, Near) else self.leaf(node, scope)
                )
            return ev
        if isinstance(node, And):
            kids = []
            for c in node.children:
                ev = self.evaluate(c, scope)
                if ev.value == ABSENT:
                    return _ABSENT
                kids.append(ev)
            return self._combine(kids)
        if isinstance(node, Or):
            return self._combine([self.evaluate(c, scope) for c in node.children])
        if isinstance(node, Not):
            inner = Evaluator(self.hits, self.concepts).evaluate(node.child, scope)
            return _TRUE if inner.value == ABSENT else _ABSENT
        return self.evaluate(node.child, node.field)

    def leaf(self, node: Leaf, scope: Field | None) -> Evidence:
        occ = self.found((node,), scope)
        if not occ or (self.k > 1 and mentions(occ) < self.k):
            return _ABSENT
        return Evidence(FOUND, tuple((node, o) for o in occ))

    def near(self, node: Near, scope: Field | None) -> Evidence:
        left, right = self.found(node.left, scope), self.found(node.right, scope)
        if self.k > 1 and (mentions(left) < self.k or mentions(right) < self.k):
            return _ABSENT
        pairs = list(self.hits.pairs(node, left, right))
        if not pairs:
            return _ABSENT
        used = sorted({o for a, b, _ in pairs for o in (a, b)})
        spans = tuple((self._leaf(node, o), o) for o in used)
        return Evidence(FOUND, spans, (min(gap for _, _, gap in pairs),))

    def _leaf(self, node: Near, occ: Occurrence) -> Leaf:
        """The operand of a NEAR that an occurrence belongs to."""
        for leaf in node.left + node.right:
            if occ in self.hits.occ.get(self.concepts[concept_key(leaf)], ()):
                return leaf
        raise AssertionError("occurrence without an operand")

    def _combine(self, kids: list[Evidence]) -> Evidence:
        """The evidence of an AND (no child ABSENT) or an OR over these children."""
        found = [k for k in kids if k.value == FOUND]
        if not found:
            return _TRUE if any(k.value == TRUE for k in kids) else _ABSENT
        if len(found) == 1:
            return found[0]
        key = tuple(map(id, found))  # every FOUND Evidence is memoised, so ids are stable
        ev = self.hits.memo.get(key)
        if ev is None:
            spans = tuple(s for k in found for s in k.spans)
            distances = tuple(d for k in found for d in k.distances)
            ev = self.hits.memo[key] = Evidence(FOUND, spans, distances)
        return ev
