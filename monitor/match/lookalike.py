"""Words of a query that look like a proximity operator written wrong.

A proximity operator is upper case and takes its distance after a slash: ``NEAR/10``,
``ONEAR/5``, ``NEAR/s``, ``NEAR/p``. Written any other way it would be read as a plain word,
so the rule would look for the word "near" (or "near15") and hardly ever match. These are
refused, with what to write instead:

- ``NEAR`` or ``ONEAR`` alone, upper case: ``@trump NEAR Russia``, ``NEAR 10``, ``NEAR /10``;
- any case with a distance, whatever joins them: ``near/15``, ``Near/5``, ``NEAR15``,
  ``near-10``, ``NEAR:10``, ``NEAR/S``, ``NEAR/sentence``, ``NEAR/10w``, ``NEAR/``;
- other search engines' operators: ``W/10``, ``w/s``, ``PRE/3`` (Lexis), and ``NOT/5``,
  ``AND/3``, ``OR/2`` upper case.

Still words: ``near``, ``Near`` (a warning says how to write the operator), ``nears``,
``near-term``, ``and/or``, ``24/7``, and anything quoted: ``"near"`` searches for the word.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# An operator-like head, one joining character, a distance or unit, the rest. The head is a
# literal, the distance one class repeated, the rest runs to the end: one pass, O(len).
_SHAPE = re.compile(
    r"(?P<op>[Oo]?[Nn][Ee][Aa][Rr]|[Ww]|[Pp][Rr][Ee]|AND|OR|NOT)"
    r"(?P<sep>[/\\:=~#._-]?)(?P<amount>\d+|[A-Za-z]*)(?P<rest>.*)\Z",
    re.DOTALL,
)
_UNITS = {
    "s": "s",
    "sentence": "s",
    "sentences": "s",
    "p": "p",
    "para": "p",
    "paragraph": "p",
    "paragraphs": "p",
}
_SPACED = re.compile(r"/?(\d{1,6}|[sp])\Z")  # what follows a NEAR written with a space
_MAX_SHOWN = 40


def proximity_mistake(text: str, following: Callable[[], str]) -> str | None:
    """Why the word `text` is a proximity operator written wrong, with what to write, or None
    when it is a word. `following` gives the next word of the query (for ``NEAR 10``)."""
    m = _SHAPE.match(text)
    if m is None:
        return None
    op, sep, amount, rest = m.group("op", "sep", "amount", "rest")
    name = op.upper()
    shown = repr(text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…")
    if name in ("NEAR", "ONEAR"):
        if not sep and not amount and not rest:
            return _bare(op, following()) if op == name else None
        if not (amount.isdigit() or sep == "/" or (sep and amount.lower() in _UNITS)):
            return None  # nears, near-term, near_east: words
        if sep == "/" and not amount and not rest:
            spaced = _SPACED.match(following())
            if spaced:
                fix = f"{name}/{spaced.group(1)}"
                return f"{shown}: write {fix} (no space) {_meaning(fix)}"
        fix = _fix(name, amount)
        return f"{shown} is not an operator: write {fix} {_meaning(fix)}"
    if sep != "/" or not (amount.isdigit() or amount.lower() in ("s", "p")) or rest:
        return None
    if name in ("W", "PRE"):
        fix = _fix("ONEAR" if name == "PRE" else "NEAR", amount)
        return f"{shown} is another search engine's syntax: write {fix} {_meaning(fix)}"
    fix = _fix("NEAR", amount)
    return f"{shown} is not an operator ({name} takes no distance): write {fix} {_meaning(fix)}"


def _bare(op: str, after: str) -> str:
    spaced = _SPACED.match(after)
    if spaced:
        fix = f"{op}/{spaced.group(1)}"
        return f"{op} {after}: write {fix} (no space) {_meaning(fix)}"
    return (
        f"{op} needs a distance: write {op}/10 {_meaning(op + '/10')}, {op}/s for the same "
        f"sentence or {op}/p for the same paragraph; to search for the word, quote it: "
        f'"{op.lower()}"'
    )


def _fix(name: str, amount: str) -> str:
    """The operator as it should be written: NEAR/15, NEAR/s (NEAR/10 when no distance)."""
    unit = _UNITS.get(amount.lower())
    if unit:
        return f"{name}/{unit}"
    if amount.isdigit() and len(amount) <= 6:
        return f"{name}/{int(amount)}"
    return f"{name}/10"


def _meaning(fix: str) -> str:
    """``for 'within 15 words'``: what the operator `fix` means."""
    name, _, amount = fix.partition("/")
    order = ", in this order" if name == "ONEAR" else ""
    if amount == "s":
        return f"for 'in the same sentence{order}'"
    if amount == "p":
        return f"for 'in the same paragraph{order}'"
    return f"for 'within {amount} words{order}'"
