"""Short excerpts around the matched words of a document."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.models import Snippet, Span

CONTEXT = 80  # characters of context on each side of the matched words
GROUP_GAP = 120  # matched words closer than this share one snippet
MAX_LENGTH = 400  # longest stretch of matched words one snippet covers
MAX_SNIPPETS = 3


def make_snippets(
    title: str, body: str, spans: Sequence[Span], made: dict[tuple[int, ...], Snippet]
) -> tuple[Snippet, ...]:
    """1-3 snippets around ``spans`` (title first, then by offset), best first.

    Best means: the most different operands, then the most matched words, then the earliest.
    ``made`` caches snippets by the identity of their spans, for the matches of one document
    (whose equal spans are one object).
    """
    groups: list[list[Span]] = []
    group_end = 0
    for span in spans:
        last = groups[-1] if groups else None
        if (
            last
            and last[-1].field == span.field
            and span.start - group_end <= GROUP_GAP
            and span.end - last[0].start <= MAX_LENGTH
        ):
            last.append(span)
            group_end = max(group_end, span.end)
        else:
            groups.append([span])
            group_end = span.end
    if len(groups) > 1:
        ranked = sorted(((-len({s.operand for s in g}), -len(g), i) for i, g in enumerate(groups)))
        groups = [groups[i] for _, _, i in ranked[:MAX_SNIPPETS]]
    out = []
    for group in groups:
        key = tuple(map(id, group))
        snippet = made.get(key)
        if snippet is None:
            text = title if group[0].field == "title" else body
            snippet = made[key] = _snippet(text, group)
        out.append(snippet)
    return tuple(out)


def _snippet(text: str, group: list[Span]) -> Snippet:
    start = max(0, group[0].start - CONTEXT)
    end = min(len(text), max(s.end for s in group) + CONTEXT)
    if start > 0:  # do not cut a word in half
        space = text.find(" ", start, group[0].start)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", max(s.end for s in group), end)
        end = space if space >= 0 else end
    excerpt = text[start:end].replace("\n", " ").replace("\t", " ")
    lead = len(excerpt) - len(excerpt.lstrip())
    excerpt = excerpt.strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start - lead
    highlights: list[tuple[int, int]] = []
    for s in sorted(group, key=lambda s: (s.start, -s.end)):
        a, b = s.start + shift, s.end + shift
        if highlights and a < highlights[-1][1]:  # overlapping words: one highlight
            highlights[-1] = (highlights[-1][0], max(b, highlights[-1][1]))
        else:
            highlights.append((a, b))
    return Snippet(group[0].field, prefix + excerpt + suffix, tuple(highlights))
