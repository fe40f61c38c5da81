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

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from monitor.match.query import Field, Leaf, Near, Prefix, Term
from monitor.match.tokens import Tokens, tokenize, units

ABSENT, TRUE, FOUND = 0, 1, 2

Occurrence = tuple[int, int]  # token positions [start, end) in title + body
ConceptKey = tuple[str, str | tuple[str, ...]]
SHOWN = 5  # most occurrences of one operand (or one NEAR side) that evidence keeps


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
        # (and the very same Evidence object: see compile.compile_check).
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

    def shown(self, occ: list[Occurrence]) -> list[Occurrence]:
        """The occurrences an alert shows: all, or when there are more than ``SHOWN``, the
        first of each spelling (as written) and then the earliest, ``SHOWN`` in all."""
        if len(occ) <= SHOWN:
            return occ
        occ = sorted(occ)  # exact-case aliases are found after the others
        seen: dict[str, Occurrence] = {}
        text = self.text
        tl, title, body = text.title_length, text.title_tokens.spans, text.body_tokens.spans
        for o in occ:  # text.locate, inline: this runs for every mention of common words
            a, b = o
            if a < tl:
                spelling = text.title[title[a][0] : title[b - 1][1]]
            else:
                spelling = text.body[body[a - tl][0] : body[b - 1 - tl][1]]
            seen.setdefault(spelling, o)
            if len(seen) == SHOWN:
                break
        chosen = set(seen.values())
        for o in occ:
            if len(chosen) == SHOWN:
                break
            chosen.add(o)
        return sorted(chosen)

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


NO_EVIDENCE = Evidence(ABSENT)
ONLY_NOT = Evidence(TRUE)

# Every FOUND Evidence is created once per document and memoised in ``Hits.memo`` (by the
# compiled checks), so equal evidence is the same object and callers may cache by identity.


def leaf_evidence(hits: Hits, leaf: Leaf, concept: int, scope: Field | None, k: int) -> Evidence:
    """An operand: FOUND with (some of) its occurrences when it occurs at least ``k`` times."""
    occ = hits.occurrences(concept, scope)
    if not occ or (k > 1 and mentions(occ) < k):
        return NO_EVIDENCE
    return Evidence(FOUND, tuple((leaf, o) for o in hits.shown(occ)))


def near_evidence(
    hits: Hits,
    node: Near,
    sides: tuple[Sequence[tuple[Leaf, int]], Sequence[tuple[Leaf, int]]],
    scope: Field | None,
    k: int,
) -> Evidence:
    """A NEAR: FOUND with the closest pair and other occurrences that are part of a close
    pair (see ``Hits.shown``), and the distance of the closest pair. ``sides`` lists
    (operand, concept) of the left and right alternatives."""
    owner: dict[Occurrence, Leaf] = {}
    found: list[list[Occurrence]] = []
    for side in sides:
        occ = []
        for leaf, concept in side:
            for o in hits.occurrences(concept, scope):
                owner.setdefault(o, leaf)
                occ.append(o)
        if not occ or (k > 1 and mentions(occ) < k):
            return NO_EVIDENCE
        found.append(occ)
    if node.unit == "words":
        closest = _closest_words(node, found[0], found[1], hits.text.title_length)
        if closest is None:
            return NO_EVIDENCE
        (a, b, gap), paired_left, paired_right = closest
    else:
        pairs = list(hits.pairs(node, found[0], found[1]))
        if not pairs:
            return NO_EVIDENCE
        a, b, gap = min(pairs, key=lambda p: p[2])
        paired_left, paired_right = {p[0] for p in pairs}, {p[1] for p in pairs}
    used = {a, b}
    used.update(hits.shown(sorted(paired_left)))
    used.update(hits.shown(sorted(paired_right)))
    return Evidence(FOUND, tuple((owner[o], o) for o in sorted(used)), (gap,))


_Pair = tuple[Occurrence, Occurrence, int]


def _closest_words(
    near: Near, left: list[Occurrence], right: list[Occurrence], tl: int
) -> tuple[_Pair, set[Occurrence], set[Occurrence]] | None:
    """``Hits.pairs`` for a NEAR/n, in O((L + R) log R) rather than L x R: the closest pair
    (the first in ``pairs`` order among equally close ones) and the occurrences of each side
    that are part of some pair; None when there is no pair."""
    best: tuple[int, int, int] | None = None  # gap, index in left, index in right
    paired_left: set[Occurrence] = set()
    after = sorted((b[0], i) for i, b in enumerate(right))  # by start, then list order
    before = sorted((b[1], -i) for i, b in enumerate(right))  # by end, list order last
    for ai, a in enumerate(left):
        partner = _partner(a, after, before, right, near, tl)
        if partner is not None:
            paired_left.add(a)
            if best is None or (partner[0], ai) < best[:2]:
                best = (partner[0], ai, partner[1])
    if best is None:
        return None
    paired_right: set[Occurrence] = set()
    after = sorted((a[0], i) for i, a in enumerate(left))
    before = sorted((a[1], -i) for i, a in enumerate(left))
    for b in right:
        if _partner(b, after, before, left, near, tl, right_side=True) is not None:
            paired_right.add(b)
    gap, ai, bi = best
    return (left[ai], right[bi], gap), paired_left, paired_right


def _partner(
    o: Occurrence,
    after: list[tuple[int, int]],
    before: list[tuple[int, int]],
    others: list[Occurrence],
    near: Near,
    tl: int,
    right_side: bool = False,
) -> tuple[int, int] | None:
    """(gap, index) of the closest occurrence among ``others`` (the other side's) that makes
    a pair with ``o``, the lowest index among equally close ones; None if there is none.
    ``after`` and ``before`` are ``others`` sorted by (start, index) and (end, -index).
    ``right_side``: ``o`` is the right operand (for ONEAR, the other side must come first).
    """
    limit = near.distance
    title = o[0] < tl
    found: tuple[int, int] | None = None
    if not right_side or not near.ordered:  # the other one starts after o ends
        j = bisect_left(after, (o[1], -1))
        if j < len(after):
            start, i = after[j]
            if (start < tl) == title and start - o[1] <= limit:
                found = (start - o[1], i)
    if right_side or not near.ordered:  # the other one ends before o starts
        j = bisect_right(before, (o[0], 1)) - 1
        if j >= 0:
            end, i = before[j][0], -before[j][1]
            gap = o[0] - end
            if (
                (others[i][0] < tl) == title
                and gap <= limit
                and (found is None or (gap, i) < found)
            ):
                found = (gap, i)
    return found


def combine(hits: Hits, kids: list[Evidence]) -> Evidence:
    """An AND (no child ABSENT) or an OR over these children: the best value, and the words
    of every FOUND child."""
    found = [k for k in kids if k.value == FOUND]
    if not found:
        return ONLY_NOT if any(k.value == TRUE for k in kids) else NO_EVIDENCE
    if len(found) == 1:
        return found[0]
    key = tuple(map(id, found))
    ev = hits.memo.get(key)
    if ev is None:
        spans = tuple(s for k in found for s in k.spans)
        distances = tuple(d for k in found for d in k.distances)
        ev = hits.memo[key] = Evidence(FOUND, spans, distances)
    return ev
