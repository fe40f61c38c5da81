"""A deliberately plain evaluator of the rule language, for differential tests.

It shares only the tokenizer and the parser with monitor.match (both tested on their own)
and follows docs/rules.md literally: find every occurrence of every operand by trying every
position, then evaluate the query tree with ordinary recursion. No tries, no presearcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.match.query import And, Entity, Near, Node, Not, Or, Prefix, Scope, Term
from monitor.match.tokens import query_tokens, tokenize, units
from monitor.models import EntityConfig


@dataclass
class Field:
    name: str
    exact: list[str]
    folded: list[str]
    sentences: list[int]
    paragraphs: list[int]


def fields(title: str, body: str) -> list[Field]:
    out = []
    for name, text in (("title", title), ("body", body)):
        t = tokenize(text)
        s, p = units(text, t)
        out.append(Field(name, t.exact, t.folded, s, p))
    return out


def occurrences(leaf: Term | Prefix | Entity, f: Field, entities: Mapping[str, EntityConfig]):
    """Every (start, end) token range of the leaf in one field."""
    if isinstance(leaf, Entity):
        e = entities[leaf.id]
        patterns = [(query_tokens(a), False) for a in e.aliases]
        patterns += [(query_tokens(a, exact=True), True) for a in e.exact]
    else:
        patterns = [(leaf.tokens, False)]
    found = set()
    for tokens, exact in patterns:
        stream = f.exact if exact else f.folded
        n = len(tokens)
        for i in range(len(stream) - n + 1):
            window = stream[i : i + n]
            if isinstance(leaf, Prefix):
                ok = window[:-1] == list(tokens[:-1]) and window[-1].startswith(tokens[-1])
            else:
                ok = n > 0 and window == list(tokens)
            if ok:
                found.add((i, i + n))
    return found


def count(occ) -> int:
    n, end = 0, -1
    for s, e in sorted(occ, key=lambda o: (o[0], -o[1])):
        if s >= end:
            n, end = n + 1, e
    return n


def evaluate(node: Node, fs: list[Field], entities, k: int, scope: str | None = None):
    """(true?, supported by words?) for a node."""
    chosen = [f for f in fs if scope in (None, f.name)]
    if isinstance(node, Term | Prefix | Entity):
        total = sum(count(occurrences(node, f, entities)) for f in chosen)
        ok = total >= k and total > 0
        return ok, ok
    if isinstance(node, And):
        results = [evaluate(c, fs, entities, k, scope) for c in node.children]
        ok = all(r[0] for r in results)
        return ok, ok and any(r[1] for r in results)
    if isinstance(node, Or):
        results = [evaluate(c, fs, entities, k, scope) for c in node.children]
        return any(r[0] for r in results), any(r[1] for r in results)
    if isinstance(node, Not):
        return not evaluate(node.child, fs, entities, 1, scope)[0], False
    if isinstance(node, Scope):
        return evaluate(node.child, fs, entities, k, node.field)
    ok = near(node, chosen, entities, k)
    return ok, ok


def near(node: Near, chosen: list[Field], entities, k: int) -> bool:
    def side(leaves, f):
        return {o for leaf in leaves for o in occurrences(leaf, f, entities)}

    sides = [[side(node.left, f), side(node.right, f)] for f in chosen]
    for i in (0, 1):  # min_mentions: each side, counted over the fields in scope
        if sum(count(s[i]) for s in sides) < k:
            return False
    for f, (left, right) in zip(chosen, sides, strict=True):
        for a in left:
            for b in right:
                if a[1] <= b[0]:
                    gap = b[0] - a[1]
                elif not node.ordered and b[1] <= a[0]:
                    gap = a[0] - b[1]
                else:
                    continue
                lo, hi = min(a[0], b[0]), max(a[1], b[1]) - 1
                if node.unit == "words" and gap <= node.distance:
                    return True
                if node.unit == "sentence" and f.sentences[lo] == f.sentences[hi]:
                    return True
                if node.unit == "paragraph" and f.paragraphs[lo] == f.paragraphs[hi]:
                    return True
    return False


def matches(node: Node, title: str, body: str, entities, min_mentions: int = 1) -> bool:
    ok, supported = evaluate(node, fields(title, body), entities, min_mentions)
    return ok and supported
