"""Matches as JSON objects and as text for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _string
from typing import Any

from monitor.models import Match, Snippet, Span


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
        "spans": _by_operand(m.spans),
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


def _by_operand(spans: Iterable[Span]) -> dict[str, list[list[str | int]]]:
    """Spans as ``{operand: [[field, start, end, text], ...]}``, operands in the order they
    first occur: half the size of one object per span, which counts at a thousand matches
    per article."""
    out: dict[str, list[list[str | int]]] = {}
    for s in spans:
        out.setdefault(s.operand, []).append([s.field, s.start, s.end, s.text])
    return out


def _evidence_json(m: Match) -> str:
    spans = json.dumps(_by_operand(m.spans), ensure_ascii=False)
    snippet = _string(marked(m.snippets[0])) if m.snippets else '""'
    distances = ", ".join(map(str, m.distances))
    return f'"spans": {spans}, "snippet": {snippet}, "distances": [{distances}]'


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
