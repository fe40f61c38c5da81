"""Human-readable account of how a rule's query fared on one document."""

from __future__ import annotations

from monitor.match.evaluate import ABSENT, FOUND, TRUE, Evaluator, Evidence
from monitor.match.query import (
    And,
    Entity,
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


def explain_query(
    name: str, query: str, node: Node, evaluator: Evaluator, refusal: str | None
) -> str:
    """The verdict, then the query tree with ✓ (true) or ✗ (false) and the evidence."""
    lines = [f"rule {name!r}: {query}"]
    if refusal is not None:
        lines.append(f"NOT MATCHED: the rule's filters skip this article: {refusal}")
        return "\n".join(lines)
    value = evaluator.evaluate(node).value
    if value == FOUND:
        lines.append("MATCHED")
    elif value == ABSENT:
        lines.append("NOT MATCHED: the parts marked ✗ failed")
    else:
        lines.append("NOT MATCHED: the query is true, but only through NOT; no words support it")
    _explain(node, evaluator, None, 1, lines)
    return "\n".join(lines)


def _explain(node: Node, ev: Evaluator, scope: Field | None, depth: int, out: list[str]) -> None:
    result = ev.evaluate(node, scope)
    mark = "✗" if result.value == ABSENT else "✓"
    pad = "  " * depth
    if isinstance(node, Term | Prefix | Entity):
        out.append(f"{pad}{mark} {node.operand}: {_leaf_detail(node, ev, scope)}")
    elif isinstance(node, And | Or):
        what = "all of" if isinstance(node, And) else "any of"
        how = " (true only through NOT: no words)" if result.value == TRUE else ""
        out.append(f"{pad}{mark} {what}{how}:")
        for c in node.children:
            _explain(c, ev, scope, depth + 1, out)
    elif isinstance(node, Not):
        inner = Evaluator(ev.hits, ev.concepts).evaluate(node.child, scope)
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


def _leaf_detail(leaf: Leaf, ev: Evaluator, scope: Field | None) -> str:
    occ = ev.found((leaf,), scope)
    where = f" in the {scope}" if scope else ""
    if not occ:
        return f"not found{where}"
    text = _quote(ev, Evidence(FOUND, tuple((leaf, o) for o in occ)))
    need = f" (min_mentions needs {ev.k})" if ev.k > 1 else ""
    return f"found {len(occ)} time{'s' if len(occ) > 1 else ''}{where}{need}: {text}"


def _near_detail(node: Near, ev: Evaluator, scope: Field | None, result: Evidence) -> str:
    if result.value == FOUND:
        return f"closest pair {min(result.distances)} words apart"
    left, right = ev.found(node.left, scope), ev.found(node.right, scope)
    if not left or not right:
        return "an operand is missing"
    loose = Near(node.left, node.right, "words", 10**9, node.ordered)
    gaps = [gap for _, _, gap in ev.hits.pairs(loose, left, right)]
    if not gaps:
        order = " in that order" if node.ordered else ""
        return f"no pair in the same field{order}"
    if node.unit != "words":
        return f"no pair in the same {node.unit} (closest pair {min(gaps)} words apart)"
    if ev.k > 1:
        return f"closest pair {min(gaps)} words apart; an operand has fewer than {ev.k} mentions"
    return f"closest pair is {min(gaps)} words apart, more than {node.distance}"


def _quote(ev: Evaluator, result: Evidence, limit: int = 3) -> str:
    """The first few matched words as written, with their field."""
    seen: list[str] = []
    for _, occ in sorted(result.spans, key=lambda s: s[1]):
        field, start, end = ev.hits.text.locate(occ)
        text = ev.hits.text.title if field == "title" else ev.hits.text.body
        item = f'"{text[start:end]}" ({field})'
        if item not in seen:
            seen.append(item)
    more = f" and {len(seen) - limit} more" if len(seen) > limit else ""
    return ", ".join(seen[:limit]) + more
