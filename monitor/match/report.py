"""Matches as JSON objects and as text for people."""

from __future__ import annotations

from json.encoder import encode_basestring as _string
from typing import Any

from monitor.models import Match, Snippet, Span

# The encoded evidence (spans, best snippet, distances) of recent matches, by the identity of
# those objects: the matches of one article share them (see matcher._Render). An entry keeps
# its objects alive, so their ids are not reused while it exists.
_Evidence = tuple[tuple[Span, ...], tuple[Snippet, ...], tuple[int, ...]]
_ENCODED: dict[tuple[int, int, int], tuple[_Evidence, str]] = {}
_ENCODED_MAX = 4096


def marked(snippet: Snippet, left: str = "[[", right: str = "]]") -> str:
    """The snippet's text with every highlighted word wrapped: ``[[Iran]]``."""
    parts, pos = [], 0
    for start, end in snippet.highlights:
        parts += [snippet.text[pos:start], left, snippet.text[start:end], right]
        pos = end
    parts.append(snippet.text[pos:])
    return "".join(parts)


def match_to_json(m: Match) -> dict[str, Any]:
    """A JSON-ready dict: the match, its spans and the best snippet marked up."""
    return {
        "article_id": m.article_id,
        "rule": m.rule,
        "spans": [
            {"field": s.field, "start": s.start, "end": s.end, "text": s.text, "operand": s.operand}
            for s in m.spans
        ],
        "snippet": marked(m.snippets[0]) if m.snippets else "",
        "distances": list(m.distances),
        "channels": list(m.channels),
    }


def match_json(m: Match) -> str:
    """``json.dumps(match_to_json(m), ensure_ascii=False)``, faster for many matches of one
    article: the evidence they share is encoded once."""
    spans, snippets, distances = m.spans, m.snippets, m.distances
    key = (id(spans), id(snippets), id(distances))
    entry = _ENCODED.get(key)
    if entry is None or not (
        entry[0][0] is spans and entry[0][1] is snippets and entry[0][2] is distances
    ):
        if len(_ENCODED) >= _ENCODED_MAX:
            _ENCODED.clear()
        entry = _ENCODED[key] = ((spans, snippets, distances), _evidence_json(m))
    return (
        f'{{"article_id": {_string(m.article_id)}, "rule": {_string(m.rule)}, {entry[1]}, '
        f'"channels": [{", ".join(map(_string, m.channels))}]}}'
    )


def _evidence_json(m: Match) -> str:
    spans = ", ".join(
        f'{{"field": {_string(s.field)}, "start": {s.start}, "end": {s.end}, '
        f'"text": {_string(s.text)}, "operand": {_string(s.operand)}}}'
        for s in m.spans
    )
    snippet = _string(marked(m.snippets[0])) if m.snippets else '""'
    distances = ", ".join(map(str, m.distances))
    return f'"spans": [{spans}], "snippet": {snippet}, "distances": [{distances}]'


def format_match_text(m: Match) -> str:
    """Several lines: the rule and article, then each snippet with matched words marked."""
    lines = [f"{m.rule} matched {m.article_id}"]
    operands = sorted({s.operand for s in m.spans})
    if operands:
        lines.append("  operands: " + ", ".join(operands))
    if m.distances:
        lines.append("  NEAR distances: " + ", ".join(str(d) for d in m.distances))
    lines += [f"  {s.field}: {marked(s)}" for s in m.snippets]
    return "\n".join(lines)
