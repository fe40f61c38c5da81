"""Tokenizer speed per script, in Mchar/s: the fast path against the per-character path.

    python tests/bench/tokenizing.py [--chars 5000] [--repeat 7] [--before REV]

Each text is an article's worth of one script (--chars characters, a paragraph repeated).
Columns, all measured in the same run (so a busy machine slows them alike):
- ``per-char``: every run of non-space characters through ``_chunk_tokens``, the reference
  path, which is what the tokenizer did for every chunk with a non-ASCII character before;
- ``before``: with --before REV, ``monitor/match/tokens.py`` as it was at REV (git show);
- ``tokenize``: the tokenizer as it is; ``x per-char``: how many times faster than per-char;
  ``/ English``: its speed over its speed on English.
Each figure is the best of --repeat timings of tokenizing the text enough times to take about
0.2 s. The script checks that both paths give the same tokens and offsets on every text.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.match import tokens  # noqa: E402
from tests.match.test_arabic_end_to_end import ARABIC, PERSIAN  # noqa: E402

PARAGRAPHS = {
    "English": "The foreign ministry spokesman said on Sunday that the allegations in the "
    "report were baseless, and that Washington and Tehran had traded accusations for years.",
    "French": "Le porte-parole du ministère a déclaré dimanche qu’il n’était « pas informé » "
    "des négociations, et que l’Élysée n’avait reçu aucune proposition écrite.",
    "Arabic": " ".join(ARABIC.paragraphs),
    "Persian": " ".join(PERSIAN.paragraphs),
    "Arabic harakat": "قالَ المتحدثُ إنَّ طهرانَ لم تتلقَّ أيَّ ردٍّ على رسالتِها بشأنِ القاعدةِ.",
    "Russian": "Москва заявила в воскресенье, что переговоры с Вашингтоном зашли в тупик. "
    "Представитель Кремля сказал журналистам, что «никаких новых предложений» не поступало.",
    "Greek": "Η Αθήνα και η Άγκυρα συμφώνησαν την Κυριακή να συνεχίσουν τις διερευνητικές "
    "επαφές, ανακοίνωσε το υπουργείο Εξωτερικών.",
    "Chinese": "外交部发言人周日表示，报告中的指控毫无根据，华盛顿和德黑兰多年来一直相互指责。",
}


def per_char(text: str) -> tokens.Tokens:
    out = tokens.Tokens([], [], [])
    for m in re.finditer(r"\S+", text):
        tokens._chunk_tokens(m.group(), m.start(), out)
    return out


def load_before(rev: str) -> Callable[[str], object]:
    source = subprocess.run(
        ["git", "show", f"{rev}:monitor/match/tokens.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("tokens_before")
    sys.modules[module.__name__] = module  # dataclasses looks its module up
    exec(compile(source, f"{rev}:monitor/match/tokens.py", "exec"), module.__dict__)
    tokenize: Callable[[str], object] = module.tokenize
    return tokenize


def mchar_per_s(tokenize: Callable[[str], object], text: str, repeat: int) -> float:
    tokenize(text)
    start = time.perf_counter()
    tokenize(text)
    number = max(1, int(0.2 / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            tokenize(text)
        best = min(best, (time.perf_counter() - start) / number)
    return len(text) / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", metavar="REV", help="also time tokens.py at this git rev")
    args = parser.parse_args()
    before = load_before(args.before) if args.before else None
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; Mchar/s, best of")
    print(f"{args.repeat}, texts of {args.chars} characters")
    header = f"{'script':<15}{'per-char':>10}{'before':>10}{'tokenize':>10}"
    print(f"{header}{'x per-char':>12}{'/ English':>11}")
    english = 0.0
    for script, paragraph in PARAGRAPHS.items():
        text = ((paragraph + "\n\n") * (args.chars // len(paragraph) + 1))[: args.chars]
        fast, slow = tokens.tokenize(text), per_char(text)
        if (fast.exact, fast.folded, fast.spans) != (slow.exact, slow.folded, slow.spans):
            sys.exit(f"{script}: the fast path and the per-character path differ")
        reference = mchar_per_s(per_char, text, args.repeat)
        then = mchar_per_s(before, text, args.repeat) if before else float("nan")
        now = mchar_per_s(tokens.tokenize, text, args.repeat)
        english = english or now
        print(
            f"{script:<15}{reference:>10.2f}{then:>10.2f}{now:>10.2f}"
            f"{now / reference:>12.1f}{now / english:>11.2f}"
        )


if __name__ == "__main__":
    main()
