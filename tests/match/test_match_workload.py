"""The shared benchmark workload in-process: 1,000 generated rules, zero differences.

The workload (../shared/bench/matching/workload.py) defines the reference semantics. Its
naive engine is the reference, but it is slow (about 0.2 s per article at 1,000 rules), so
it checks 25 articles; the workload's own term-dictionary engine, which agrees with the
naive one on those, checks all 502. The full 1k/10k comparisons run in tests/bench.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.match import Matcher
from monitor.models import Document, EntityConfig, RuleConfig

WORKLOAD = Path(__file__).resolve().parents[3] / "shared/bench/matching/workload.py"
NAIVE_ARTICLES = 25

pytestmark = pytest.mark.skipif(not WORKLOAD.exists(), reason="shared workload not present")


@pytest.fixture(scope="module")
def workload() -> Any:
    sys.path.insert(0, str(WORKLOAD.parent))
    try:
        import workload
    finally:
        sys.path.remove(str(WORKLOAD.parent))
    return workload


def test_zero_differences_at_1000_rules(workload: Any) -> None:
    product = workload.product_rules(workload.generate_rules(1000, 1))
    entities = {
        k: EntityConfig(k, tuple(v["aliases"]), tuple(v.get("exact", ())))
        for k, v in product["entities"].items()
    }
    rules = [RuleConfig(name=r["name"], query=r["query"]) for r in product["rules"]]
    matcher = Matcher.build(rules, entities)
    ruleset = workload.RuleSet(workload.ast_from_product(product))
    naive, fast = workload.NaiveEngine(ruleset), workload.TokHashEngine(ruleset)
    differences = []
    total = 0
    for i, a in enumerate(workload.generate_articles(1)):
        tokens = workload.article_tokens(a)
        expected = fast.match(tokens)
        if i < NAIVE_ARTICLES:
            assert naive.match(tokens) == expected
        got = sorted(m.rule for m in matcher.match(Document(a["id"], a["title"], a["body"])))
        total += len(expected)
        if got != expected:
            differences.append((a["id"], sorted(set(got) ^ set(expected))))
    assert differences == []
    assert total > 5000  # the workload really exercises the rules
