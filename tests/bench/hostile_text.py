"""Time and peak memory of parse and extract on every hostile case, one process per case.

    python tests/bench/hostile_text.py [--only SUBSTRING] [--timeout 120] [--tree DIR]

Cases come from tests/hostile/text_cases.py. Each runs in a fresh interpreter that loads the
input from a file (and the language model extraction loads once per process), resets its
peak-RSS mark (/proc/self/clear_refs), makes one call and reports the call's wall time, its
peak RSS above the RSS before the call, and what came back (a summary or the exception).
Address space is capped (--memory, default 6 GiB) and a case is killed after --timeout
seconds, so a bomb ends as "MemoryError" or "timeout". `--tree DIR` imports `monitor` from
another checkout (the "before" column: `git archive main | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.hostile import text_cases  # noqa: E402

CHILD = r"""
import json, sys, time, traceback
from pathlib import Path
kind, path = sys.argv[1], sys.argv[2]
data = Path(path).read_bytes()
def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0
def call():
    if kind == "feed":
        from monitor.parse import parse_feed
        result = parse_feed(data, feed="f", url="http://feeds.example/feed")
        items = getattr(result, "items", result)
        extra = ""
        if hasattr(result, "cut"):
            extra = f", cut {result.cut}, skipped {result.skipped}"
        links = sum(1 for i in items if i.link is None)
        return f"{len(items)} items ({links} without link{extra})"
    if kind == "description":
        from monitor.parse import html_to_text
        return f"{len(html_to_text(data.decode()))} chars of text"
    if kind == "page":
        from monitor.extract import extract_article
        article = extract_article(data.decode(), url="http://news.example/a")
        return f"{len(article.text)} chars, canonical {article.canonical_url!r}"
    if kind.startswith("charset:"):
        from monitor.extract import decode_html
        text = decode_html(data, kind[8:] or None)
        return "read as UTF-8" if "Caf\u00e9 owners" in text else f"mojibake: {text[-60:]!r}"
    raise SystemExit(kind)
for module in ("monitor.parse", "monitor.extract"):
    __import__(module)
if kind == "page":  # load the language model first: it is loaded once per process
    from monitor.extract import extract_article
    extract_article("<p>" + "The harbour reopened on Monday after the storms. " * 3 + "</p>")
Path("/proc/self/clear_refs").write_text("5")
before = rss("VmRSS")
started = time.perf_counter()
try:
    outcome = call()
except BaseException as e:
    outcome = f"{type(e).__name__}: {str(e)[:80]}"
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "peak": rss("VmHWM") - before, "outcome": outcome}))
"""


def cases() -> list[tuple[str, str, bytes]]:
    found: list[tuple[str, str, bytes]] = []
    for name, build in text_cases.FEEDS.items():
        found.append((f"feed: {name}", "feed", build()))
    for name, make in text_cases.DESCRIPTIONS.items():
        found.append((f"html_to_text: {name}", "description", make().encode()))
    for name, make in text_cases.PAGES.items():
        found.append((f"extract: {name}", "page", make().encode()))
    for label in text_cases.CHARSET_LABELS:
        for where in ("header", "meta"):
            body, content_type = text_cases.charset_page(label, where)
            found.append((f"decode_html: {label} in {where}", f"charset:{content_type}", body))
    return found


def run(kind: str, data: bytes, tree: Path, timeout: float, memory: int) -> dict[str, object]:
    with tempfile.NamedTemporaryFile(suffix=".in") as handle:
        handle.write(data)
        handle.flush()

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        env = {**os.environ, "PYTHONPATH": str(tree)}
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, kind, handle.name],
                capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=limit,
                cwd=tree, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"seconds": time.perf_counter() - started, "peak": None, "outcome": "timeout"}
    if done.returncode != 0 or not done.stdout.strip():
        return {"seconds": None, "peak": None, "outcome": f"crashed: {done.stderr[-200:]!r}"}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--memory", type=int, default=6 << 30, help="address-space cap, bytes")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to import monitor from")
    args = parser.parse_args()
    for name, kind, data in cases():
        if args.only not in name:
            continue
        result = run(kind, data, args.tree, args.timeout, args.memory)
        seconds = result["seconds"]
        peak = result["peak"]
        shown_time = f"{seconds:8.3f} s" if isinstance(seconds, float) else "       - "
        shown_peak = f"{peak / 2**20:8.1f} MB" if isinstance(peak, int) else "       -   "
        print(f"{name:50s} {shown_time} {shown_peak}  {result['outcome']}", flush=True)


if __name__ == "__main__":
    main()
