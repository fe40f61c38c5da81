"""Matches as JSON objects and as text for people."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _string
from typing import Any

from monitor.models import Match, Snippet


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
    """``json.dumps(match_to_json(m), ensure_ascii=False)``."""
    return next(matches_json((m,)))


def matches_json(matches: Iterable[Match]) -> Iterator[str]:
    """``match_json`` of each match, faster for the many matches of one article: evidence
    they share (the same spans, snippets and distances objects) is encoded once."""
    evidence: dict[tuple[int, int, int], tuple[Match, str]] = {}  # the match keeps ids valid
    article, article_json = None, ""
    channels: dict[tuple[str, ...], str] = {}
    for m in matches:
        key = (id(m.spans), id(m.snippets), id(m.distances))
        entry = evidence.get(key)
        if entry is None:
            entry = evidence[key] = (m, _evidence_json(m))
        if m.article_id != article:
            article, article_json = m.article_id, _string(m.article_id)
        listed = channels.get(m.channels)
        if listed is None:
            listed = channels[m.channels] = ", ".join(map(_string, m.channels))
        yield (
            f'{{"article_id": {article_json}, "rule": {_string(m.rule)}, {entry[1]}, '
            f'"channels": [{listed}]}}'
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
