"""Matches as JSON objects and as text for people."""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring as _string
from typing import Any, TypeVar

from monitor.models import Match, Snippet, Span

# Encoded spans and best snippets by object identity: the matches of one article share them
# (see matcher._Render). Each entry keeps its object alive, so an id is never reused for
# another object while its entry exists.
_ENCODED: dict[int, tuple[object, str]] = {}
_ENCODED_MAX = 4096
T = TypeVar("T")


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
    article: their shared spans and snippets are encoded once."""
    snippet = _encoded(m.snippets[0], _snippet_json) if m.snippets else '""'
    return (
        f'{{"article_id": {_string(m.article_id)}, "rule": {_string(m.rule)}, '
        f'"spans": {_encoded(m.spans, _spans_json)}, "snippet": {snippet}, '
        f'"distances": [{", ".join(map(str, m.distances))}], '
        f'"channels": [{", ".join(map(_string, m.channels))}]}}'
    )


def _encoded(item: T, encode: Callable[[T], str]) -> str:
    entry = _ENCODED.get(id(item))
    if entry is not None and entry[0] is item:
        return entry[1]
    if len(_ENCODED) >= _ENCODED_MAX:
        _ENCODED.clear()
    text = encode(item)
    _ENCODED[id(item)] = (item, text)
    return text


def _spans_json(spans: tuple[Span, ...]) -> str:
    items = (
        f'{{"field": {_string(s.field)}, "start": {s.start}, "end": {s.end}, '
        f'"text": {_string(s.text)}, "operand": {_string(s.operand)}}}'
        for s in spans
    )
    return f"[{', '.join(items)}]"


def _snippet_json(snippet: Snippet) -> str:
    return _string(marked(snippet))


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
