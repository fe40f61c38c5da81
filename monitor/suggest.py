"""Did-you-mean: the configured names closest to one an operator typed.

One helper for every name an operator types (keys, rules, channels, feeds and tags in the
YAML files and on the command line, entities in queries), so the hints read alike everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's similarity ratio: 'trumpp' -> 'trump', 'alerts' -> 'alert'


def closest(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `names` closest to `name`, best first: a name one edit away (a letter
    missing, extra, changed, or two swapped: `ulr` for `url`) is the likeliest typo and comes
    alone; otherwise the names close by difflib's measure."""
    ordered = sorted(set(names))
    if 2 < len(name) <= 64:
        for option in ordered:
            if abs(len(option) - len(name)) <= 1 and _one_edit(name, option):
                return [option]
    return difflib.get_close_matches(name, ordered, n=n, cutoff=CUTOFF)


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by one insertion, deletion, substitution or adjacent swap."""
    if a == b:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :] or (
            a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]
        )
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1 :] == shorter[i:]


def did_you_mean(name: str, names: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean 'x' or 'y'?)``, or "" when nothing is close; `prefix` is put before
    each name as it is written (``@`` for entities)."""
    found = [repr(prefix + c) for c in closest(name, names)]
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else ", ".join(found[:-1]) + " or " + found[-1]
    return f" (did you mean {listed}?)"


def unknown_name(kind: str, name: str, names: Iterable[str]) -> str:
    """``no rule named 'x' in the configuration (did you mean 'y'?)``."""
    return f"no {kind} named {name!r} in the configuration{did_you_mean(name, names)}"
