"""Matches as JSON objects and as text for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring_ascii as _string
from operator import itemgetter
from typing import Any

from monitor.match.matcher import SharedMatch
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


COMPACT = (",", ":")  # separators without spaces, as in `jq -c`


def match_json(m: Match) -> str:
    """``json.dumps(match_to_json(m), separators=COMPACT)``: compact ASCII (other characters
    escaped), cheap to write and read when a large rule set prints a thousand per article."""
    one = SharedMatch(((0, m.rule, m.channels),), m.article_id, m.spans, m.snippets, m.distances)
    return shared_json([one])[0]


def shared_json(shared: Sequence[SharedMatch]) -> list[str]:
    """``match_json`` of every match of one document, in rule order, from ``match_shared``:
    the evidence of rules written alike, or of rules that matched on the same words, is
    encoded once."""
    encoded: dict[tuple[int, int, int], str] = {}  # by identity: ``shared`` keeps them alive
    listed: dict[tuple[str, ...], str] = {(): ""}
    lines: list[tuple[int, str]] = []
    for s in shared:
        key = (id(s.spans), id(s.snippets), id(s.distances))
        evidence = encoded.get(key)
        if evidence is None:
            evidence = encoded[key] = _evidence_json(s)
        head = f'{{"article_id":{_string(s.article_id)},"rule":'
        tail = f',{evidence},"channels":['
        for i, name, channels in s.rules:
            chans = listed.get(channels)
            if chans is None:
                chans = listed[channels] = _channels(channels)
            lines.append((i, f"{head}{_string(name)}{tail}{chans}]}}"))
    lines.sort(key=itemgetter(0))
    return [line for _, line in lines]


def _channels(channels: tuple[str, ...]) -> str:
    return ",".join(map(_string, channels))


def _by_operand(spans: Iterable[Span]) -> dict[str, list[list[str | int]]]:
    """Spans as ``{operand: [[field, start, end, text], ...]}``, operands in the order they
    first occur: half the size of one object per span, which counts at a thousand matches
    per article."""
    out: dict[str, list[list[str | int]]] = {}
    for s in spans:
        out.setdefault(s.operand, []).append([s.field, s.start, s.end, s.text])
    return out


def _evidence_json(m: SharedMatch) -> str:
    spans = json.dumps(_by_operand(m.spans), separators=COMPACT)
    snippet = _string(marked(m.snippets[0])) if m.snippets else '""'
    distances = ",".join(map(str, m.distances))
    return f'"spans":{spans},"snippet":{snippet},"distances":[{distances}]'


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
