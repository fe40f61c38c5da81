"""Text cut into segments for the templates, matched words marked.

Highlights are never built by inserting markup into the text: the text is cut at the
highlight offsets into plain segments, which the template escapes one by one and wraps in
``<mark>`` where marked. Control and bidi-control characters are first replaced one for one
(`sanitize.neutralize`), so offsets stay valid and no override character can reorder the
page around the text.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import Span
from monitor.sanitize import neutralize


@dataclass(frozen=True)
class Segment:
    text: str
    rules: tuple[int, ...] = ()  # indexes of the rules whose words these are (empty: plain)
    starts: tuple[int, ...] = ()  # the rules whose span starts here (a label is shown)

    @property
    def marked(self) -> bool:
        return bool(self.rules)


def snippet_segments(text: str, highlights: Sequence[tuple[int, int]]) -> list[Segment]:
    """A snippet's text with its (start, end) highlights marked (overlaps merged; offsets
    outside the text ignored)."""
    return marked_segments(text, [(a, b, 0) for a, b in highlights])


def evidence_segments(text: str, spans: Sequence[tuple[int, Span]]) -> list[Segment]:
    """A field's text with each rule's spans (rule index, span) marked and labelled; a span
    whose offsets do not hold its words in this text is left out."""
    located = [
        (s.start, s.end, rule) for rule, s in spans if text[s.start : s.end] == s.text and s.text
    ]
    return marked_segments(text, located)


def marked_segments(text: str, marks: Sequence[tuple[int, int, int]]) -> list[Segment]:
    """Cut `text` at every (start, end, rule) boundary; each segment knows its rules."""
    text = neutralize(text)
    n = len(text)
    valid = [(a, b, r) for a, b, r in marks if 0 <= a < b <= n]
    cuts = sorted({0, n, *(a for a, _, _ in valid), *(b for _, b, _ in valid)})
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        rules = tuple(sorted({r for s, e, r in valid if s <= a and b <= e}))
        starts = tuple(sorted({r for s, _, r in valid if s == a}))
        out.append(Segment(text[a:b], rules, starts))
    return out
