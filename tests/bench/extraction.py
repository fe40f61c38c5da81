"""Article-extraction benchmark: our extractor against trafilatura, same scorer, same run.

    python tests/bench/extraction.py [--shared ../shared] [--split dev] [--rounds 3]

Runs ../shared/bench/extraction/score.py (the Zyte article-extraction benchmark's metric) on
`monitor.extract:extract_article` and on trafilatura 2.x `extract(html, favor_precision=True)`
(the bench-only extra: `pip install -e '.[bench]'`), prints both summary lines and the speed
ratio. Speeds are comparable only within one run on one machine. On a shared machine other
load moves pages/s by tens of percent from run to run: --rounds N alternates the two
extractors N times and reports each round, the best and the median.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OURS = "monitor.extract:extract_article"
REFERENCE = "extraction:trafilatura_extract"  # this file, put on the path with --pythonpath


def trafilatura_extract(html: str) -> str | None:
    """The reference extractor, in its precision-oriented setting."""
    import trafilatura

    result: str | None = trafilatura.extract(html, favor_precision=True)
    return result


def score(shared: Path, split: str, callable_: str, repeat: int) -> str:
    """Run the shared scorer on one extractor; its output (the last line is the summary)."""
    bench = shared / "bench" / "extraction"
    command = [
        sys.executable,
        str(bench / "score.py"),
        callable_,
        "--data",
        str(bench / split if (bench / split).is_dir() else bench / "dev"),
        "--split",
        split,
        "--repeat",
        str(repeat),
        "--pythonpath",
        str(HERE),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{callable_}: score.py failed:\n{done.stderr}")
    return done.stdout


def pages_per_s(summary: str) -> float:
    match = re.search(r"pages_per_s=([\d.]+)", summary)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two this often")
    parser.add_argument("--verbose", action="store_true", help="print the failing pages too")
    args = parser.parse_args()

    speeds: dict[str, list[float]] = {"ours": [], "trafilatura": []}
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1}/{args.rounds}")
        results = {}
        for name, callable_ in (("ours", OURS), ("trafilatura", REFERENCE)):
            output = score(args.shared.resolve(), args.split, callable_, args.repeat)
            if args.verbose:
                print(output.rstrip())
            results[name] = output.strip().splitlines()[-1]
            speeds[name].append(pages_per_s(results[name]))
            print(f"{name:12} {results[name]}", flush=True)
        ours, reference = speeds["ours"][-1], speeds["trafilatura"][-1]
        ratio = ours / reference if reference else float("inf")
        print(f"speed ratio (ours / trafilatura): {ratio:.1f}x", flush=True)
    if args.rounds > 1:
        for name, values in speeds.items():
            print(
                f"{name:12} pages_per_s best={max(values):.1f} "
                f"median={statistics.median(values):.1f} over {len(values)} rounds"
            )


if __name__ == "__main__":
    main()
