"""Short excerpts around the matched words of a document."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.models import Snippet, Span

CONTEXT = 80  # characters of context on each side of the matched words
GROUP_GAP = 120  # matched words closer than this share one snippet
MAX_LENGTH = 400  # longest stretch of matched words one snippet covers
MAX_SNIPPETS = 3
_new = tuple.__new__  # Snippet(*fields) without the Python-level __new__ of a named tuple


def make_snippets(
    title: str,
    body: str,
    spans: Sequence[Span],
    made: dict[tuple[int, ...], Snippet],
    limit: int = MAX_SNIPPETS,
) -> tuple[Snippet, ...]:
    """1 to ``limit`` snippets around ``spans`` (title first, then by offset), best first.

    Best means: the most different operands, then the most matched words, then the earliest.
    ``made`` caches snippets by the identity of their spans, for the matches of one document
    (whose equal spans are one object).
    """
    if not spans:
        return ()
    groups: list[tuple[int, int, int]] = []  # spans[first:stop], and where the last ends
    first = 0
    field, group_start, group_end, _, _ = spans[0]
    for i in range(1, len(spans)):
        span_field, start, end, _, _ = spans[i]
        if span_field != field or start - group_end > GROUP_GAP or end - group_start > MAX_LENGTH:
            groups.append((first, i, group_end))
            first, field, group_start, group_end = i, span_field, start, end
        elif end > group_end:
            group_end = end
    groups.append((first, len(spans), group_end))
    if len(groups) > 1:
        ranked = sorted(
            (-len({s.operand for s in spans[a:b]}), a - b, n) for n, (a, b, _) in enumerate(groups)
        )
        groups = [groups[n] for _, _, n in ranked[:limit]]
    out = []
    for a, b, end in groups:
        group = spans[a:b]
        key = tuple(map(id, group))
        snippet = made.get(key)
        if snippet is None:
            text = title if group[0].field == "title" else body
            snippet = made[key] = _snippet(text, group, end)
        out.append(snippet)
    return tuple(out)


def _snippet(text: str, group: Sequence[Span], words_end: int) -> Snippet:
    """The snippet of a group of spans sorted by offset; ``words_end``: where the last ends."""
    words_start = group[0].start
    if words_end > words_start + MAX_LENGTH:  # one huge word: show its start
        words_end = words_start + MAX_LENGTH
    start = words_start - CONTEXT
    if start > 0:  # do not cut a word in half
        space = text.find(" ", start, words_start)
        start = space + 1 if space >= 0 else start
    else:
        start = 0
    end = words_end + CONTEXT
    if end < len(text):
        space = text.rfind(" ", words_end, end)
        end = space if space >= 0 else end
    else:
        end = len(text)
    excerpt = text[start:end].replace("\n", " ").replace("\t", " ")
    lead = len(excerpt) - len(excerpt.lstrip())
    excerpt = excerpt.strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start - lead
    shown = len(prefix) + len(excerpt)
    highlights: list[tuple[int, int]] = []
    for s in group:  # sorted by start: overlapping words make one highlight
        a, b = s.start + shift, min(s.end + shift, shown)
        if highlights and a < highlights[-1][1]:
            if b > highlights[-1][1]:
                highlights[-1] = (highlights[-1][0], b)
        else:
            highlights.append((a, b))
    return _new(Snippet, (group[0].field, prefix + excerpt + suffix, tuple(highlights)))
