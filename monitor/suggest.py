"""Did-you-mean: the configured names closest to one an operator typed.

One helper for every name an operator types (rules, channels and feeds on the command line,
entities in queries), so the hints read alike everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's similarity ratio: 'trumpp' -> 'trump', 'alerts' -> 'alert'


def closest(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `names` closest to `name`, best first."""
    return difflib.get_close_matches(name, sorted(set(names)), n=n, cutoff=CUTOFF)


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
