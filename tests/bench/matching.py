"""Rule-matching benchmark on the shared workload (../shared/bench/matching).

    python tests/bench/matching.py [--shared ../shared] [--rules 1000,10000]
        exports each workload (cached under --work), runs the workload's `compare` on
        `monitor match --rules {rules} --json {articles}` and prints a table: differences,
        marginal ms/article of the product and of the naive engine, speedup, the 1-article
        run (start-up + load, seconds) and its peak memory.
    python tests/bench/matching.py --in-process [--rules 1000,10000] [--repeat 5]
        the same workloads through monitor.match directly (no CLI): differences from
        expected.json, load time, memory, ms/article (the median of --repeat passes over
        the articles: on a busy machine one pass is noisy). Use this while the CLI is not wired.

Exporting is slow for large N (the workload's reference matcher is naive): 1,000 rules take
about 1.5 minutes, 10,000 about 15. Above 10,000 rules (`--rules 100000`) the naive engine
would take hours, so the reference match set comes from the workload's own term-dictionary
engine (`TokHashEngine`, which its `run-all` checks against the naive one), and the
product is timed the way `compare` does it (medians of a full and a 1-article run, output
captured) without the naive engine.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.match import Matcher  # noqa: E402
from monitor.models import Document, EntityConfig, RuleConfig  # noqa: E402


def export(shared: Path, work: Path, n: int) -> Path:
    out = work / f"rules_{n}"
    if not (out / "expected.json").exists():
        print(f"# exporting {n} rules to {out} (slow for large N)", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(shared / "bench/matching/workload.py"), "export"]
        cmd += ["--rules", str(n), "--seed", "1", "--out", str(out)]
        subprocess.run(cmd, check=True)
    return out


NAIVE_LIMIT = 10_000  # above this, export_large and time_cli instead of export and compare


def export_large(shared: Path, work: Path, n: int) -> Path:
    """``export`` for rule sets too large for the naive reference (see the module doc)."""
    out = work / f"rules_{n}"
    if (out / "expected.json").exists():
        return out
    print(f"# exporting {n} rules to {out} (reference: tokhash)", file=sys.stderr, flush=True)
    sys.path.insert(0, str(shared / "bench/matching"))
    import workload  # the shared benchmark's module, only for this

    out.mkdir(parents=True, exist_ok=True)
    pdoc = workload.product_rules(workload.generate_rules(n, 1))
    arts = workload.generate_articles(1, 500, 800)
    with (out / "rules.yaml").open("w", encoding="utf-8") as f:
        yaml.safe_dump(
            pdoc, f, sort_keys=False, allow_unicode=True, width=100000, default_flow_style=None
        )
    lines = [json.dumps(workload.product_article(a), ensure_ascii=False) + "\n" for a in arts]
    (out / "articles.jsonl").write_text("".join(lines), encoding="utf-8")
    (out / "articles_1.jsonl").write_text(lines[0], encoding="utf-8")
    rs = workload.RuleSet(workload.ast_from_product(pdoc))
    engine = workload.TokHashEngine(rs)
    expected = {a["id"]: engine.match(workload.article_tokens(a)) for a in arts}
    (out / "expected.json").write_text(json.dumps(expected, sort_keys=True), encoding="utf-8")
    return out


def time_cli(d: Path, venv: Path, runs: int = 3) -> dict[str, Any]:
    """What ``compare`` measures, without the naive engine: the differences from
    expected.json and the marginal ms/article (median full run minus median 1-article run,
    over the articles but one), stdout captured as ``compare`` does."""
    times: dict[str, list[float]] = {"full": [], "one": []}
    output = ""
    for _ in range(runs):
        for name, articles in (("full", "articles.jsonl"), ("one", "articles_1.jsonl")):
            cmd = [f"{venv}/bin/monitor", "match", "--rules", str(d / "rules.yaml"), "--json"]
            t = time.perf_counter()
            p = subprocess.run([*cmd, str(d / articles)], capture_output=True, text=True)
            times[name].append(time.perf_counter() - t)
            if p.returncode != 0:
                return {"rules": d.name, "differences": "failed: " + p.stderr[-500:]}
            output = output or (p.stdout if name == "full" else "")
    got = {(r["article_id"], r["rule"]) for r in map(json.loads, output.splitlines())}
    expected = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    want = {(a, r) for a, rules in expected.items() for r in rules}
    n = len(expected)
    full, one = statistics.median(times["full"]), statistics.median(times["one"])
    return {
        "rules": d.name.removeprefix("rules_"),
        "differences": len(got ^ want),
        "product_ms": round(1000 * (full - one) / (n - 1), 3),
        "naive_ms": "-",
        "speedup": "-",
        "load_s": round(one, 3),
        "load_peak_mb": load_memory_mb(venv, d),
    }


def load_rules(path: Path) -> tuple[dict[str, EntityConfig], list[RuleConfig]]:
    """A stand-in for monitor.config.load_rules for the workload's plain rules.yaml."""
    with path.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entities = {
        k: EntityConfig(k, tuple(v.get("aliases") or ()), tuple(v.get("exact") or ()))
        for k, v in (doc.get("entities") or {}).items()
    }
    rules = [RuleConfig(name=r["name"], query=r["query"]) for r in doc.get("rules") or []]
    return entities, rules


def in_process(d: Path, repeat: int = 1) -> dict[str, Any]:
    """Load, match every article, diff with expected.json; timings and peak memory."""
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    entities, rules = load_rules(d / "rules.yaml")
    t1 = time.perf_counter()
    matcher = Matcher.build(rules, entities)
    t2 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with (d / "articles.jsonl").open(encoding="utf-8") as f:
        articles = [json.loads(line) for line in f if line.strip()]
    docs = [Document(id=a["id"], title=a["title"], text=a["text"]) for a in articles]
    got: dict[str, list[str]] = {}
    passes = []
    for _ in range(repeat):
        t3 = time.perf_counter()
        for doc in docs:
            got[doc.id] = sorted(m.rule for m in matcher.match(doc))
        passes.append(time.perf_counter() - t3)
    expected = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    diffs = [
        (aid, sorted(set(got.get(aid, [])) ^ set(rules_)))
        for aid, rules_ in expected.items()
        if sorted(got.get(aid, [])) != rules_
    ]
    for aid, rs in diffs[:20]:
        print(f"# DIFF {aid}: {rs}", file=sys.stderr)
    return {
        "rules": len(rules),
        "differences": sum(len(rs) for _, rs in diffs),
        "yaml_s": round(t1 - t0, 2),
        "build_s": round(t2 - t1, 2),
        "build_mb": round((rss1 - rss0) / 1024, 1),
        "ms_per_article": round(1000 * statistics.median(passes) / len(docs), 3),
    }


_LAST = re.compile(
    r"differences=(\d+) product_ms_per_article=([\d.]+) naive_ms_per_article=([\d.]+) "
    r"speedup=([\d.inf]+)"
)
_START = re.compile(r"# product: .*1-article run ([\d.]+)s")


_PEAK_RSS = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def load_memory_mb(venv: Path, d: Path) -> float:
    """Peak RSS of `monitor match` on one article: start-up plus loading the rules."""
    cmd = [f"{venv}/bin/monitor", "match", "--rules", str(d / "rules.yaml"), "--json"]
    cmd.append(str(d / "articles_1.jsonl"))
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, *cmd], capture_output=True, text=True)
    return round(int(out.stdout.strip()) / 1024, 1)


def compare(shared: Path, d: Path, venv: Path) -> dict[str, Any]:
    cmd = f"{venv}/bin/monitor match --rules {{rules}} --json {{articles}}"
    p = subprocess.run(
        [
            sys.executable,
            str(shared / "bench/matching/workload.py"),
            "compare",
            "--dir",
            str(d),
            "--cmd",
            cmd,
            "--naive-articles",
            "20",
        ],
        capture_output=True,
        text=True,
    )
    print(p.stdout + p.stderr, file=sys.stderr)
    last, start = _LAST.search(p.stdout), _START.search(p.stdout)
    if last is None:
        return {"rules": d.name, "differences": "failed"}
    return {
        "rules": d.name.removeprefix("rules_"),
        "differences": int(last.group(1)),
        "product_ms": float(last.group(2)),
        "naive_ms": float(last.group(3)),
        "speedup": last.group(4),
        "load_s": float(start.group(1)) if start else "?",
        "load_peak_mb": load_memory_mb(venv, d),
    }


def table(rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---:|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--rules", default="1000,10000")
    ap.add_argument("--work", type=Path, default=Path("/tmp/monitor-bench-matching"))
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the articles (in-process)")
    args = ap.parse_args()
    shared = args.shared.resolve()
    rows = []
    venv = ROOT / ".venv"
    for n in [int(x) for x in args.rules.split(",")]:
        if n > NAIVE_LIMIT:
            d = export_large(shared, args.work, n)
            rows.append(in_process(d, args.repeat) if args.in_process else time_cli(d, venv))
        else:
            d = export(shared, args.work, n)
            rows.append(in_process(d, args.repeat) if args.in_process else compare(shared, d, venv))
    table(rows)


if __name__ == "__main__":
    main()
