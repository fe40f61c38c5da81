"""Hostile inputs for the rule engine, as named cases, and a table of what each one costs.

Each case builds its input (not timed) and returns the operation to time. The cases use only
the engine's public functions (``tokenize``, ``units``, ``validate_query``, ``Matcher``), so
the same file measures any version of ``monitor``::

    python tests/match/hostile_cases.py [--timeout 60] [CASE ...]
        runs every case (or the named ones) in its own process and prints a table: the time
        of the operation, the process's peak memory (ru_maxrss), and the outcome.
    PYTHONPATH=/path/to/other/checkout python tests/match/hostile_cases.py
        the same for another checkout (run it from outside this worktree, e.g. from /tmp,
        so that the current directory does not come first on sys.path).

tests/hostile/test_match.py runs the same cases with a time bound.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.models import Document, EntityConfig, RuleConfig

ENTITIES = {"iran": EntityConfig("iran", ("Iran", "Tehran", "Islamic Republic"), ("IR",))}


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    setup: Callable[[], Callable[[], object]]  # builds the input, returns the timed operation


def _units(text: str) -> Callable[[], object]:
    from monitor.match.tokens import tokenize, units

    def run() -> object:
        return units(text, tokenize(text))

    return run


def _tokenize(text: str) -> Callable[[], object]:
    from monitor.match.tokens import tokenize

    return lambda: len(tokenize(text))


def _match(queries: list[str], text: str, min_mentions: int = 1) -> Callable[[], object]:
    from monitor.match import Matcher

    rules = [
        RuleConfig(name=f"r{i}", query=q, min_mentions=min_mentions) for i, q in enumerate(queries)
    ]
    matcher = Matcher.build(rules, ENTITIES)
    doc = Document("hostile", "", text)
    return lambda: [m.rule for m in matcher.match(doc)]


def _explain(query: str, text: str) -> Callable[[], object]:
    from monitor.match import Matcher

    matcher = Matcher.build([RuleConfig(name="r", query=query)], ENTITIES)
    doc = Document("hostile", "", text)
    return lambda: matcher.explain("r", doc)


def _query(query: str) -> Callable[[], object]:
    """Everything an operator's query goes through: check, compile, match and explain."""
    from monitor.match import Matcher, validate_query

    doc = Document("hostile", "Iran", "Iran and oil in Tehran. " * 20)

    def run() -> object:
        validate_query(query, ENTITIES)
        matcher = Matcher.build([RuleConfig(name="r", query=query)], ENTITIES)
        return len(matcher.match(doc)), len(matcher.explain("r", doc))

    return run


def _alternating_marks(n: int) -> str:
    """A letter carrying ``n`` combining marks of two classes, out of canonical order."""
    return "Iran a" + "\u0301\u0316" * (n // 2) + " nuclear"


SENTENCES = "Iran nuclear uranium. "
MANY = 1_000_000

CASES = [
    Case(
        "dots-40k",
        "sentence units: 40,000 dots between two words",
        lambda: _units("Iran" + "." * 40_000 + "nuclear"),
    ),
    Case(
        "punct-200k",
        "sentence units: 200,000 of '?!.)\"' with no space",
        lambda: _units("Iran " + '?!.)"' * 40_000 + "x nuclear"),
    ),
    Case(
        "sentences-300k",
        "sentence units: 'x. ' x 300,000 (300,000 one-word sentences)",
        lambda: _units("x. " * 300_000),
    ),
    Case("word-5m", "tokenize: one 5,000,000-letter word", lambda: _tokenize("a" * 5_000_000)),
    Case(
        "accented-word-2m",
        "tokenize: 2,000,000 accented letters with no space",
        lambda: _tokenize("é" * 2_000_000),
    ),
    Case(
        "apostrophes-2m",
        "tokenize: x’ x 1,000,000 with no space",
        lambda: _tokenize("x\u2019" * 1_000_000),
    ),
    Case(
        "ellipses-1m",
        "tokenize: … x 1,000,000 (one character, three after NFKC)",
        lambda: _tokenize("a\u2026" * 500_000),
    ),
    Case(
        "mixed-scripts-2m",
        "tokenize: Cyrillic, Latin, Arabic, Greek, no space, 2M chars",
        lambda: _tokenize("жqقΩ" * 500_000),
    ),
    Case(
        "combining-1m",
        "tokenize: e + U+0301 x 1,000,000 (decomposed accents)",
        lambda: _tokenize("e\u0301" * 1_000_000),
    ),
    Case(
        "marks-40k",
        "tokenize: one letter with 40,000 combining marks out of order",
        lambda: _tokenize(_alternating_marks(40_000)),
    ),
    Case(
        "marks-400k",
        "tokenize: one letter with 400,000 combining marks out of order",
        lambda: _tokenize(_alternating_marks(400_000)),
    ),
    Case(
        "tibetan-signs-100k",
        "tokenize: a letter with 100,000 vowel signs that decompose into marks",
        lambda: _tokenize("Iran \u0f40" + "\u0f73\u0f81" * 50_000 + " nuclear"),
    ),
    Case(
        "near-s-4k",
        "match: iran NEAR/s nuclear, 'Iran nuclear uranium. ' x 4,000",
        lambda: _match(["iran NEAR/s nuclear"], SENTENCES * 4_000),
    ),
    Case(
        "near-s-16k",
        "match: iran NEAR/s nuclear, 'Iran nuclear uranium. ' x 16,000",
        lambda: _match(["iran NEAR/s nuclear"], SENTENCES * 16_000),
    ),
    Case(
        "near-p-16k",
        "match: iran NEAR/p uranium, the same in paragraphs",
        lambda: _match(["iran NEAR/p uranium"], "Iran nuclear uranium.\n\n" * 16_000),
    ),
    Case(
        "near-s-160k",
        "match: NEAR/s and ONEAR/p, 'Iran nuclear uranium. ' x 160,000 (3.5M chars)",
        lambda: _match(["iran NEAR/s nuclear", "uranium ONEAR/p @iran"], SENTENCES * 160_000),
    ),
    Case(
        "one-term-1m",
        "match: 'iran ' x 1,000,000, 8 rules on it (rules see 1M characters)",
        lambda: _match(
            [
                "iran",
                "ira*",
                "@iran",
                "title:iran OR body:iran",
                "iran NEAR/5 nuclear",
                "iran NEAR/s iran",
                "iran NEAR/p (nuclear OR iran)",
                '"iran iran" AND NOT oil',
            ],
            "iran " * MANY,
            min_mentions=3,
        ),
    ),
    Case(
        "explain-near-25m-pairs",
        "explain: iran NEAR/2 nuclear, 5,000 of each, far apart",
        lambda: _explain("iran NEAR/2 nuclear", "Iran " * 5_000 + "x " * 10 + "nuclear " * 5_000),
    ),
    Case(
        "explain-near-s-25m-pairs",
        "explain: NEAR/s with 5,000 of each, never in one sentence",
        lambda: _explain("iran NEAR/s nuclear", "Iran. " * 5_000 + "nuclear. " * 5_000),
    ),
    Case(
        "explain-prefix-100k",
        "explain: ira* on 100,000 different words",
        lambda: _explain("ira*", " ".join(f"ira{i}" for i in range(100_000))),
    ),
    Case(
        "parens-1000",
        "query: 1,000 nested parentheses",
        lambda: _query("(" * 1000 + "iran" + ")" * 1000),
    ),
    Case(
        "nots-3000",
        "query: iran AND 3,000 NOTs",
        lambda: _query("iran AND " + "NOT " * 3000 + "oil"),
    ),
    Case("scopes-1000", "query: title: x 1,000", lambda: _query("title:" * 1000 + "iran")),
    Case(
        "ors-10k",
        "query: 10,000 words ORed (flat)",
        lambda: _query(" OR ".join(f"w{i}" for i in range(9_999)) + " OR iran"),
    ),
    Case(
        "ands-10k",
        "query: 10,000 words ANDed (flat)",
        lambda: _query(" AND ".join(["iran"] + [f"w{i}" for i in range(9_999)])),
    ),
    Case(
        "near-alternatives-10k",
        "query: NEAR/s between two ORs of 5,000 words",
        lambda: _query(
            "("
            + " OR ".join(f"a{i}" for i in range(4_999))
            + " OR iran) NEAR/s ("
            + " OR ".join(f"b{i}" for i in range(4_999))
            + " OR oil)"
        ),
    ),
]
BY_NAME = {c.name: c for c in CASES}


def run_case(name: str) -> None:
    """In this process: build the case's input, time its operation, print the seconds, the
    process's peak memory (kB) and the outcome."""
    import resource

    operation = BY_NAME[name].setup()
    start = time.perf_counter()
    try:
        operation()
        outcome = "ok"
    except Exception as e:  # the outcome is what this measures
        outcome = f"{type(e).__name__}: {str(e)[:80]}"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{seconds:.3f}\t{peak}\t{outcome}")


def measure(name: str, timeout: float) -> tuple[str, str, str]:
    """(time, peak memory, outcome) of one case in a child process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--run", name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s", "-", "killed at the timeout"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return "-", "-", f"exit {done.returncode}: {last[:80]}"
    seconds, peak, outcome = done.stdout.strip().split("\t", 2)
    return f"{float(seconds):.3f} s", f"{int(peak) / 1024:.0f} MB", outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        run_case(args.run)
        return
    import monitor

    print(f"# monitor from {os.path.dirname(monitor.__file__)}")
    print("| case | what | time | peak RSS | outcome |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.cases or list(BY_NAME):
        t, mem, outcome = measure(name, args.timeout)
        print(f"| {name} | {BY_NAME[name].what} | {t} | {mem} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
