"""Human-readable account of how a rule's query fared on one document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.match.compile import compile_check
from monitor.match.evaluate import (
    ABSENT,
    FOUND,
    TRUE,
    ConceptKey,
    Evidence,
    Hits,
    Occurrence,
    closest_pair,
    concept_key,
)
from monitor.match.query import (
    And,
    Entity,
    Everything,
    Field,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Prefix,
    Term,
    render,
)
from monitor.models import RuleConfig


class _Context:
    """One rule on one document: evaluates any part of its query."""

    def __init__(self, hits: Hits, concepts: Mapping[ConceptKey, int], k: int) -> None:
        self.hits = hits
        self.concepts = concepts
        self.k = k

    def evaluate(self, node: Node, scope: Field | None, k: int | None = None) -> Evidence:
        return compile_check(node, self.concepts, self.k if k is None else k, scope)(self.hits)

    def found(self, leaves: Sequence[Leaf], scope: Field | None) -> list[Occurrence]:
        return self.hits.gather([self.concepts[concept_key(x)] for x in leaves], scope)


def explain_query(
    rule: RuleConfig,
    node: Node,
    hits: Hits,
    concepts: Mapping[ConceptKey, int],
    refusal: str | None,
) -> str:
    """The verdict, then the query tree with ✓ (true) or ✗ (false) and the evidence."""
    lines = [f"rule {rule.name!r}: {rule.query}"]
    if refusal is not None:
        lines.append(f"NOT MATCHED: the rule's filters skip this article: {refusal}")
        return "\n".join(lines)
    ctx = _Context(hits, concepts, rule.min_mentions)
    value = ctx.evaluate(node, None).value
    if value == FOUND:
        lines.append("MATCHED")
    elif value == ABSENT:
        lines.append("NOT MATCHED: the parts marked ✗ failed")
    else:
        lines.append("NOT MATCHED: the query is true, but only through NOT; no words support it")
    _explain(node, ctx, None, 1, lines)
    return "\n".join(lines)


def _explain(node: Node, ev: _Context, scope: Field | None, depth: int, out: list[str]) -> None:
    result = ev.evaluate(node, scope)
    mark = "✗" if result.value == ABSENT else "✓"
    pad = "  " * depth
    if isinstance(node, Everything):
        out.append(f"{pad}{mark} *: every article; {_everything_detail(ev)}")
    elif isinstance(node, Term | Prefix | Entity):
        out.append(f"{pad}{mark} {node.operand}: {_leaf_detail(node, ev, scope)}")
    elif isinstance(node, And | Or):
        what = "all of" if isinstance(node, And) else "any of"
        how = " (true only through NOT: no words)" if result.value == TRUE else ""
        out.append(f"{pad}{mark} {what}{how}:")
        for c in node.children:
            _explain(c, ev, scope, depth + 1, out)
    elif isinstance(node, Not):
        inner = ev.evaluate(node.child, scope, k=1)
        found = "found" if inner.value != ABSENT else "absent"
        out.append(f"{pad}{mark} NOT {render(node.child)} ({render(node.child)} is {found})")
        if inner.value == FOUND:
            out.append(f"{pad}    found: {_quote(ev, inner)}")
    elif isinstance(node, Near):
        out.append(f"{pad}{mark} {render(node)}: {_near_detail(node, ev, scope, result)}")
        for leaf in node.left + node.right:
            out.append(f"{pad}    {leaf.operand}: {_leaf_detail(leaf, ev, scope)}")
    else:
        out.append(f"{pad}{mark} only in the {node.field}:")
        _explain(node.child, ev, node.field, depth + 1, out)


def _everything_detail(ev: _Context) -> str:
    text = ev.hits.text
    if text.blank:
        return "this one has no title or text to show"
    field, start, end = text.lead()
    shown = (text.title if field == "title" else text.body)[start:end]
    return f'shown by its {"title" if field == "title" else "first line"}: "{shown}"'


def _leaf_detail(leaf: Leaf, ev: _Context, scope: Field | None) -> str:
    occ = ev.found((leaf,), scope)
    where = f" in the {scope}" if scope else ""
    if not occ:
        return f"not found{where}"
    text = _quote(ev, Evidence(FOUND, tuple((leaf, o) for o in occ)))
    need = f" (min_mentions needs {ev.k})" if ev.k > 1 else ""
    return f"found {len(occ)} time{'s' if len(occ) > 1 else ''}{where}{need}: {text}"


def _near_detail(node: Near, ev: _Context, scope: Field | None, result: Evidence) -> str:
    if result.value == FOUND:
        return f"closest pair {min(result.distances)} words apart"
    left, right = ev.found(node.left, scope), ev.found(node.right, scope)
    if not left or not right:
        return "an operand is missing"
    loose = Near(node.left, node.right, "words", 10**9, node.ordered)
    found = closest_pair(ev.hits, loose, left, right)
    if found is None:
        order = " in that order" if node.ordered else ""
        return f"no pair in the same field{order}"
    gap = found[0][2]
    if node.unit != "words":
        return f"no pair in the same {node.unit} (closest pair {gap} words apart)"
    if ev.k > 1:
        return f"closest pair {gap} words apart; an operand has fewer than {ev.k} mentions"
    return f"closest pair is {gap} words apart, more than {node.distance}"


def _quote(ev: _Context, result: Evidence, limit: int = 3) -> str:
    """The first few matched words as written, with their field."""
    seen: dict[str, None] = {}  # in order, each once: a list's `in` made this quadratic
    for _, occ in sorted(result.spans, key=lambda s: s[1]):
        field, start, end = ev.hits.text.locate(occ)
        text = ev.hits.text.title if field == "title" else ev.hits.text.body
        seen[f'"{text[start:end]}" ({field})'] = None
    items = list(seen)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
