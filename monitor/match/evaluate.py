"""Query semantics over one document's term occurrences.

A query node evaluates to one of three values:

- ``ABSENT`` (0): false.
- ``TRUE`` (1): true, but no word of the article supports it (``NOT x`` when x is absent).
- ``FOUND`` (2): true, and some operand's words in the article support it.

AND is ABSENT if a child is, otherwise the best of its children; OR is the best of its
children; ``NOT x`` is TRUE when x is ABSENT, else ABSENT. A rule matches only when its query
is FOUND: an alert always has matched words to show, and a query made only of NOT terms
never matches by itself.

``*`` (``Everything``) is FOUND in every document, whatever ``min_mentions``: its words are the
title (see ``DocText.lead``), and a document with no title or text is the one match without
words.

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
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from monitor.match.query import Everything, Field, Leaf, Near, Prefix, Term
from monitor.match.tokens import Tokens, tokenize, units

ABSENT, TRUE, FOUND = 0, 1, 2

Occurrence = tuple[int, int]  # token positions [start, end) in title + body
ConceptKey = tuple[str, str | tuple[str, ...]]
SHOWN = 5  # most occurrences of one operand (or one NEAR side) that evidence keeps
# The occurrence of ``*``: the whole document. Every other occurrence has start < end.
WHOLE: Occurrence = (0, 0)
EVERYTHING: ConceptKey = ("everything", "*")
LEAD_CHARS = 200  # at most this much of the body's first line stands for an untitled document


def concept_key(leaf: Leaf) -> ConceptKey:
    """Operands that match the same words share one concept (``Iran`` and ``iran``)."""
    if isinstance(leaf, Everything):
        return EVERYTHING
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
        if occ[1] == 0:
            return self.lead()
        tl = self.title_length
        if occ[0] < tl:
            spans = self.title_tokens.spans
            return "title", spans[occ[0]][0], spans[occ[1] - 1][1]
        spans = self.body_tokens.spans
        return "body", spans[occ[0] - tl][0], spans[occ[1] - 1 - tl][1]

    def lead(self) -> tuple[Field, int, int]:
        """What stands for the whole document (``WHOLE``): the title without the spaces
        around it; for a blank title, the body's first line, at most ``LEAD_CHARS`` and cut
        at a space; ("title", 0, 0) when both are blank (see ``blank``)."""
        title = self.title
        start = len(title) - len(title.lstrip())
        if start < len(title):
            return "title", start, len(title.rstrip())
        body = self.body
        start = len(body) - len(body.lstrip())
        if start == len(body):
            return "title", 0, 0
        end = body.find("\n", start, start + LEAD_CHARS + 1)
        if end < 0 and len(body) - start > LEAD_CHARS:
            space = body.rfind(" ", start, start + LEAD_CHARS + 1)
            end = space if space > start else start + LEAD_CHARS
        line = body[start:end] if end >= 0 else body[start:]
        return "body", start, start + len(line.rstrip())

    @property
    def blank(self) -> bool:
        """Whether title and body are both blank: ``*`` then has nothing to show."""
        return not (self.title.strip() or self.body.strip())


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
    return Evidence(FOUND, tuple(zip(repeat(leaf), hits.shown(occ))))


def everything_evidence(hits: Hits, leaf: Everything) -> Evidence:
    """``*``: FOUND in every document, shown by ``DocText.lead`` (no words in a blank one)."""
    return Evidence(FOUND, () if hits.text.blank else ((leaf, WHOLE),))


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
    found: list[list[Occurrence]] = []
    for side in sides:
        occ = hits.gather([concept for _, concept in side], scope)
        if not occ or (k > 1 and mentions(occ) < k):
            return NO_EVIDENCE
        found.append(occ)
    closest = closest_pair(hits, node, found[0], found[1])
    if closest is None:
        return NO_EVIDENCE
    (a, b, gap), paired_left, paired_right = closest
    used = {a, b}
    used.update(hits.shown(sorted(paired_left)))
    used.update(hits.shown(sorted(paired_right)))
    owners = _Owners(hits, [*sides[0], *sides[1]], scope)
    return Evidence(FOUND, tuple((owners.of(o), o) for o in sorted(used)), (gap,))


class _Owners:
    """The operand an occurrence is shown for: the first of the NEAR's alternatives (left
    ones first) that occurs there. Looked up only for the few occurrences shown."""

    __slots__ = ("alternatives", "hits", "members", "scope")

    def __init__(self, hits: Hits, alternatives: list[tuple[Leaf, int]], scope: Field | None):
        self.hits = hits
        self.alternatives = alternatives
        self.scope = scope
        self.members: dict[int, set[Occurrence]] = {}

    def of(self, o: Occurrence) -> Leaf:
        for leaf, concept in self.alternatives:
            members = self.members.get(concept)
            if members is None:
                occ = self.hits.occurrences(concept, self.scope)
                members = self.members[concept] = set(occ)
            if o in members:
                return leaf
        raise AssertionError(f"{o} is no occurrence of this NEAR")


Pair = tuple[Occurrence, Occurrence, int]  # left, right, tokens between them


def closest_pair(
    hits: Hits, near: Near, left: list[Occurrence], right: list[Occurrence]
) -> tuple[Pair, set[Occurrence], set[Occurrence]] | None:
    """The pairs of a NEAR, in O((L + R) log(L + R)) rather than L x R.

    A pair is an occurrence of each side that satisfies ``near``: in the same field, not
    overlapping, in order for ONEAR, and at most ``near.distance`` tokens apart (NEAR/n) or
    both in one sentence (NEAR/s) or paragraph (NEAR/p). Returns the closest pair (fewest
    tokens between; among equally close ones the first by position in ``left``, then in
    ``right``) and the occurrences of each side that are part of some pair; None when there
    is no pair.
    """
    tl = hits.text.title_length
    if near.unit == "words":
        left_groups: list[int | None] = list(map(tl.__gt__, map(_first, left)))
        right_groups: list[int | None] = list(map(tl.__gt__, map(_first, right)))
        limit: int | None = near.distance
    else:
        ids = hits.unit_ids(near.unit)
        left_groups, right_groups = _units(ids, left), _units(ids, right)
        limit = None
    return closest(near.ordered, limit, left, right, left_groups, right_groups)


_first, _second = itemgetter(0), itemgetter(1)


def _units(ids: list[int], occ: list[Occurrence]) -> list[int | None]:
    """The sentence or paragraph of each occurrence; None for one that spans two (a phrase
    across a sentence end), as it can share none with an occurrence of the other side."""
    firsts = map(ids.__getitem__, map(_first, occ))
    lasts = map(ids.__getitem__, map((-1).__add__, map(_second, occ)))
    return [a if a == b else None for a, b in zip(firsts, lasts, strict=True)]


def closest(
    ordered: bool,
    limit: int | None,
    left: list[Occurrence],
    right: list[Occurrence],
    left_groups: list[int | None],
    right_groups: list[int | None],
) -> tuple[Pair, set[Occurrence], set[Occurrence]] | None:
    """``closest_pair`` over any grouping: occurrences pair when they have the same group
    (not None), do not overlap, the left one comes first if ``ordered``, and at most
    ``limit`` tokens lie between them (any number if None).

    Groups must be contiguous stretches of tokens (a field, a sentence): then the nearest
    occurrence of the other side that starts after one ends (or ends before it starts),
    found by bisection, is its only candidate on that side, as any other one is farther
    away and so in the same group or one farther away.
    """
    to_right = _nearest(left, left_groups, right, right_groups, True, not ordered, limit)
    best: tuple[int, int, int] | None = None  # gap, index in left, index in right
    for ai, partner in enumerate(to_right):
        if partner is not None and (best is None or partner[0] < best[0]):
            best = (partner[0], ai, partner[1])
    if best is None:
        return None
    to_left = _nearest(right, right_groups, left, left_groups, not ordered, True, limit)
    paired_left = {o for o, p in zip(left, to_right, strict=True) if p is not None}
    paired_right = {o for o, p in zip(right, to_left, strict=True) if p is not None}
    gap, ai, bi = best
    return (left[ai], right[bi], gap), paired_left, paired_right


def _nearest(
    occ: list[Occurrence],
    groups: list[int | None],
    others: list[Occurrence],
    other_groups: list[int | None],
    after: bool,
    before: bool,
    limit: int | None,
) -> list[tuple[int, int] | None]:
    """For each occurrence, (gap, index) of the nearest of ``others`` it pairs with (the
    lowest index among equally near ones), or None. ``after``: the other one may start
    after it ends; ``before``: the other one may end before it starts."""
    can = [i for i, g in enumerate(other_groups) if g is not None]
    starts = list(map(_first, others))
    ends = list(map(_second, others))
    by_start = sorted(can, key=starts.__getitem__)  # equal starts: lowest index first
    by_end = sorted(reversed(can), key=ends.__getitem__)  # equal ends: lowest index last
    start_keys = list(map(starts.__getitem__, by_start))
    end_keys = list(map(ends.__getitem__, by_end))
    out: list[tuple[int, int] | None] = []
    for (first, stop), group in zip(occ, groups, strict=True):
        found = None
        if group is not None:
            if after and (j := bisect_left(start_keys, stop)) < len(by_start):
                i = by_start[j]
                gap = starts[i] - stop
                if other_groups[i] == group and (limit is None or gap <= limit):
                    found = (gap, i)
            if before and (j := bisect_right(end_keys, first) - 1) >= 0:
                i = by_end[j]
                gap = first - ends[i]
                if (
                    other_groups[i] == group
                    and (limit is None or gap <= limit)
                    and (found is None or (gap, i) < found)
                ):
                    found = (gap, i)
        out.append(found)
    return out


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
